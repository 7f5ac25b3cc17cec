"""A backup as the daemon records it (the data itself is in the restic repository)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import attrs

BackupStatus = Literal["running", "succeeded", "failed"]


@attrs.frozen(kw_only=True)
class Backup:
    id: uuid.UUID
    trigger: Literal["manual", "schedule"]
    actor: str
    status: BackupStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    size_bytes: int
    homes: int
    skipped: int
    error_code: str | None
    error_message: str | None
