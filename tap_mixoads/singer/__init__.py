"""The Singer side: the message writer, side messages, private names relied on."""
