"""Singer tap for the Mixo Ads Ad Platform API."""
