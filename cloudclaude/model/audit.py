"""Audit events: who did what to which user or host, from where (append-only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs

#: The audit event types; later features add theirs here.
AUDIT_TYPES = frozenset(
    {
        "auth.success",
        "auth.failed",
        "auth.logout",
        "user.expired",
        "host.stop.expired",
        "admin.user.created",
        "admin.user.updated",
        "admin.user.deleted",
        "admin.user.password_rotated",
        "admin.user.signed_out",
        "admin.binding.created",
        "admin.binding.deleted",
        "admin.exit.created",
        "admin.exit.updated",
        "admin.exit.deleted",
        "admin.host.action",
        "reconcile.host.drift",
        "reconcile.task.stale",
        "ssh.session.opened",
        "ssh.session.closed",
        "host.idle.stopped",
        "host.roll.rebuild",
        "host.roll.deferred",
        "host.roll.skipped",
        "host.roll.summary",
        "backup.started",
        "backup.succeeded",
        "backup.failed",
        "egress.verify.failed",
        "egress.killswitch.tripped",
        "egress.exit.recovered",
        "user.password_changed",
        "user.ssh_key.added",
        "user.ssh_key.deleted",
        "admin.signing_key.rotated",
        "credential.created",
        "credential.rotated",
        "credential.assigned",
        "credential.deleted",
        "llm.budget.warning",
        "user.llm_gateway.changed",
    }
)


@attrs.frozen(kw_only=True)
class Actor:
    """Who acts: a signed-in user (``user:alice``), the ctl socket (``ctl:uid=0``) or the system."""

    name: str
    user_id: uuid.UUID | None = None
    source_ip: str | None = None


SYSTEM = Actor(name="system")


@attrs.frozen(kw_only=True)
class NewAuditEvent:
    type: str = attrs.field(validator=attrs.validators.in_(AUDIT_TYPES))
    actor: Actor
    user_id: uuid.UUID | None = None
    host_id: uuid.UUID | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AuditEvent:
    id: int
    type: str
    actor: str
    actor_user_id: uuid.UUID | None
    user_id: uuid.UUID | None
    host_id: uuid.UUID | None
    source_ip: str | None
    metadata: dict[str, Any]
    at: dt.datetime


@attrs.frozen(kw_only=True)
class AuditFilter:
    """Which audit events to read; every field set narrows the search."""

    type: str | None = None
    user_id: uuid.UUID | None = None
    host_id: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after_id: int | None = None
