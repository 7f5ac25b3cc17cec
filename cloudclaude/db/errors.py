"""Database errors, translated from asyncpg at the adapter so callers never see asyncpg types."""

from __future__ import annotations


class DatabaseError(Exception):
    """Base of every database failure."""


class DatabaseUnavailable(DatabaseError):
    """Postgres cannot be reached, the connection broke, or a query ran out of time."""


class UniqueViolation(DatabaseError):
    """An insert or update collided with a unique constraint (``constraint`` names it)."""

    def __init__(self, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


class CheckViolation(DatabaseError):
    """A row broke a CHECK or foreign-key constraint (``constraint`` names it)."""

    def __init__(self, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint
