"""The wire contract shared by the agent and the daemon (framing, peer credentials)."""
