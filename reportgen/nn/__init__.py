"""Model specs, layer summaries and the Trainer."""
