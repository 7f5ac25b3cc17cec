"""Model records for unit tests, with every field filled in and any of them changed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

from cloudclaude.model.users import User


def make_user(at: dt.datetime, **changes: Any) -> User:
    """An active user ``alice`` created and updated at ``at``, with ``changes`` applied."""
    base = User(
        id=uuid.uuid4(),
        username="alice",
        role="user",
        status="active",
        expires_at=None,
        max_hosts=1,
        last_login_at=None,
        created_at=at,
        updated_at=at,
    )
    return attrs.evolve(base, **changes)
