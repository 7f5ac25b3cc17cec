"""Frozen attrs records shared by ``domain``, ``db`` and ``web`` (never database records), and
their JSON views. Imports nothing of the daemon but ``core.timefmt``.
"""
