"""Hosts (a user's box), their limits and the one status enum (DESIGN.md section 4)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal, get_args

import attrs

from cloudclaude.model.exits import ExitRef, as_exit_ref

HostStatus = Literal[
    "pending",
    "starting",
    "running",
    "degraded",
    "stopping",
    "stopped",
    "failed",
    "deleting",
    "deleted",
]
HOST_STATUSES: tuple[HostStatus, ...] = get_args(HostStatus)
DesiredState = Literal["running", "stopped", "deleted"]
HostAction = Literal["start", "stop", "rebuild", "delete", "verify_egress"]


@attrs.frozen(kw_only=True)
class HostLimits:
    cpus: float = 2.0
    memory_mb: int = 4096
    pids: int = 1024
    disk_gb: int = 20


@attrs.frozen(kw_only=True)
class Host:
    id: uuid.UUID
    short_id: str
    user_id: uuid.UUID
    status: HostStatus
    desired_state: DesiredState
    image_ref: str | None
    cpus: float = attrs.field(converter=float)  # numeric(6,2) arrives as a Decimal
    memory_mb: int
    pids: int
    disk_gb: int
    timezone: str
    box_public_key: str | None
    error_code: str | None
    error_message: str | None
    last_activity_at: dt.datetime | None
    last_used_at: dt.datetime | None
    #: None follows ``scanners.idle_stop_after_s``; 0 never stops the host.
    idle_stop_after_s: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The exit the host is bound to (None: no binding, the host cannot start).
    egress: ExitRef | None = attrs.field(default=None, converter=as_exit_ref)
    #: Only these domains (and subdomains) are reachable; empty: every destination.
    allowed_domains: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: Rebuild at the next stop (``cloudclaudectl hosts roll`` on a running host).
    roll_pending: bool = False
    #: Built from another image than the current box image.
    image_outdated: bool = False

    @property
    def limits(self) -> HostLimits:
        return HostLimits(
            cpus=self.cpus, memory_mb=self.memory_mb, pids=self.pids, disk_gb=self.disk_gb
        )
