"""The HTTP path of one account: transport, token, retry policy, budget."""
