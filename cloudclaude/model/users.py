"""Users and their SSH keys."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import attrs

Role = Literal["admin", "user"]
UserStatus = Literal["active", "disabled", "expired"]
ROLES: tuple[Role, ...] = ("admin", "user")


@attrs.frozen(kw_only=True)
class User:
    id: uuid.UUID
    username: str
    role: Role
    status: UserStatus
    expires_at: dt.datetime | None
    max_hosts: int
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Goes up when every session of this user must end (see migration 0007).
    session_epoch: int = 0

    def effective_status(self, now: dt.datetime) -> UserStatus:
        """``expired`` as soon as ``expires_at`` passes, before the scanner records it."""
        if self.status == "active" and self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return self.status


@attrs.frozen(kw_only=True)
class SshKey:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    public_key: str
    fingerprint: str
    created_at: dt.datetime
