"""The daemon's client for the privileged agent (socket mode or embedded in-process)."""
