"""After extraction: the per-campaign sync hook."""
