"""Running the accounts: shared run parts, the account pipeline, fan-in, reports."""
