"""Settings: where they come from, what they must be, what kind of run this is."""
