"""Infrastructure every part of the daemon shares: settings, logging, metrics, health, the
strict cattrs converter, time helpers, the server key and the component status board.

Imports nothing of the daemon but ``errors`` and ``model``.
"""
