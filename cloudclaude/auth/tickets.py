"""One-time SSH login tickets: the bootstrap flow's way to type the password only once.

The bootstrap endpoint checks the user's password over HTTP, then hands the script a ticket
that the SSH proxy accepts exactly once, within ``ssh.ticket_ttl_s``, for that user and host.
Only a SHA-256 of the ticket is stored (it is 256 random bits, so a plain hash suffices), and
consuming deletes the row, so a replayed ticket finds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import tickets as tickets_repo

#: Tickets look like ``cct_<43 url-safe characters>``, so the proxy tells them from passwords.
PREFIX = "cct_"


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


def looks_like_ticket(secret: str) -> bool:
    return secret.startswith(PREFIX) and len(secret) == len(PREFIX) + 43


class Tickets:
    def __init__(self, db: Database, ttl_s: float) -> None:
        self._db = db
        self.ttl_s = ttl_s

    async def issue(self, user_id: uuid.UUID, host_id: uuid.UUID) -> str:
        ticket = PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + dt.timedelta(seconds=self.ttl_s)
        async with self._db.transaction() as conn:
            await tickets_repo.delete_expired(conn, utcnow())
            await tickets_repo.insert(conn, _digest(ticket), user_id, host_id, expires_at)
        return ticket

    async def consume(self, ticket: str) -> tuple[uuid.UUID, uuid.UUID] | None:
        """``(user_id, host_id)`` the first time a live ticket is shown, else None."""
        if not looks_like_ticket(ticket):
            return None
        return await tickets_repo.consume(self._db, _digest(ticket), utcnow())
