"""Server-side sign-in sessions (``auth_sessions``): what a token's ``sid`` claim names."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import attrs

Scope = Literal["full", "bootstrap"]
SCOPES: tuple[Scope, ...] = ("full", "bootstrap")


@attrs.frozen(kw_only=True)
class AuthSession:
    id: uuid.UUID
    user_id: uuid.UUID
    #: The user's ``session_epoch`` when the session began; an older one is refused.
    epoch: int
    scope: Scope
    #: When the password was last given in this session (the recent-auth window starts here).
    authenticated_at: dt.datetime
    created_at: dt.datetime
    expires_at: dt.datetime
