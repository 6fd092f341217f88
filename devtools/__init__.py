"""Developer tooling: private Postgres, demo, plugin lock generator."""
