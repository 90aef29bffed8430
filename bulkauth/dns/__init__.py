"""The async DNS layer: backends answer questions; the Resolver adds caching, limits, retries."""
