"""The Singer side: the message writer, and records written outside a stream's sync."""
