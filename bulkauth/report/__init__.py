"""Reading runs back for people: what changed between two runs (diff), and an HTML report."""
