"""Benchmarks: each prints its figures next to a baseline measured in the same run.

Run one with ``.venv/bin/python -m bench.<name>`` (``make bench`` runs them all).
"""
