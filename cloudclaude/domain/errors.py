"""Failures below the domain that the edges (API, pages, ctl) answer with a registry code.

``DatabaseUnavailable``: Postgres is away for a moment; the edges answer ``SYSTEM_002``.
``DatabaseError``: any database failure, which a scanner survives until its next round.
"""

from __future__ import annotations

from cloudclaude.db.errors import DatabaseError, DatabaseUnavailable

__all__ = ["DatabaseError", "DatabaseUnavailable"]
