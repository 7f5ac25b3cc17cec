"""Durable tasks (DESIGN.md section 5) and their ordered stage events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import attrs

TaskKind = Literal["create", "start", "stop", "rebuild", "delete", "verify_egress", "test_exit"]
TASK_KINDS: tuple[TaskKind, ...] = (
    "create",
    "start",
    "stop",
    "rebuild",
    "delete",
    "verify_egress",
    "test_exit",
)
TaskStatus = Literal["pending", "running", "succeeded", "failed", "canceled"]
TASK_STATUSES: tuple[TaskStatus, ...] = ("pending", "running", "succeeded", "failed", "canceled")
ACTIVE_STATUSES = ("pending", "running")


@attrs.frozen(kw_only=True)
class TaskEvent:
    seq: int
    code: str
    message: str
    at: dt.datetime


@attrs.frozen(kw_only=True)
class Task:
    id: uuid.UUID
    host_id: uuid.UUID | None
    kind: str
    status: TaskStatus
    params: dict[str, Any]
    attempt: int
    max_attempts: int
    run_after: dt.datetime
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    requested_by: uuid.UUID | None
    cancel_requested: bool
    error_code: str | None
    error_message: str | None
    progress_percent: int
    progress_message: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime
    events: list[TaskEvent] = attrs.field(factory=list)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES
