"""Repositories: SQL in, model objects out. Each takes a ``Database`` or a ``Connection``."""

from __future__ import annotations

from cloudclaude.db.pool import Connection, Database

Executor = Database | Connection
