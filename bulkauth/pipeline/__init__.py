"""Sources -> bounded, ordered worker pool -> NDJSON sink."""
