"""The JSON answers of the API as attrs classes: what ``cloudclaude.model.views`` writes.

The views build plain dicts (the ctl socket shares them); these classes are their contract,
the types ``@documented(answers=...)`` names and the OpenAPI document is built from. Every
field is required (a view always writes every key) and no other key is allowed, so a view that
grows a key without its class fails ``tests/unit/test_api_shapes.py`` and the schemathesis run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Generic, Literal, TypeVar

import attrs

from cloudclaude.model.exits import ExitKind, ExitStatus
from cloudclaude.model.hosts import DesiredState, HostStatus
from cloudclaude.model.tasks import TaskStatus
from cloudclaude.model.users import Role, UserStatus

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a list, newest first unless said otherwise; ``total`` counts every match."""

    items: list[T]
    total: int
    limit: int
    offset: int


@attrs.frozen(kw_only=True)
class UserOut:
    id: uuid.UUID
    username: str
    role: Role
    #: ``expired`` as soon as ``expires_at`` passed.
    status: UserStatus
    expires_at: dt.datetime | None
    max_hosts: int
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class NewUserOut(UserOut):
    #: The generated password, shown once (only when none was given).
    password: str = ""


@attrs.frozen(kw_only=True)
class SshKeyOut:
    id: uuid.UUID
    name: str
    fingerprint: str
    public_key: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class SshKeyList:
    items: list[SshKeyOut]


@attrs.frozen(kw_only=True)
class KeyAdded:
    id: uuid.UUID
    fingerprint: str


@attrs.frozen(kw_only=True)
class HostOut:
    id: uuid.UUID
    short_id: str
    user_id: uuid.UUID
    status: HostStatus
    desired_state: DesiredState
    image_ref: str | None
    image_outdated: bool
    roll_pending: bool
    cpus: float
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
    egress_ip_id: uuid.UUID | None
    egress_label: str | None
    #: False: no exit, or an exit without verification endpoints ("egress unverified").
    egress_verified: bool
    #: Only these domains (and subdomains) are reachable; empty: every destination.
    allowed_domains: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class NewHostOut(HostOut):
    #: The box's SSH password, shown once.
    ssh_password: str
    #: The create (and start) task.
    task_id: uuid.UUID


@attrs.frozen(kw_only=True)
class TaskEventOut:
    seq: int
    code: str
    message: str
    at: dt.datetime


@attrs.frozen(kw_only=True)
class TaskSummary:
    id: uuid.UUID
    host_id: uuid.UUID | None
    kind: str
    status: TaskStatus
    attempt: int
    max_attempts: int
    progress_percent: int
    progress_message: str
    error_code: str | None
    error_message: str | None
    cancel_requested: bool
    params: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class TaskOut(TaskSummary):
    events: list[TaskEventOut]


@attrs.frozen(kw_only=True)
class TaskQueued:
    """The task that does the work; follow it at ``/v1/admin/tasks/{id}`` or the SSE feed."""

    task_id: uuid.UUID


@attrs.frozen(kw_only=True)
class SshPassword:
    """The box's new SSH password, shown once."""

    ssh_password: str


@attrs.frozen(kw_only=True)
class GeneratedPassword:
    """``password``: the generated one, shown once; absent when the body set one."""

    password: str = ""


@attrs.frozen(kw_only=True)
class ExitOut:
    """An exit as submitted (secrets masked as ``••••`` plus their last two characters), with
    its kind's own fields besides these."""

    open_object: ClassVar[bool] = True

    id: uuid.UUID
    label: str
    kind: ExitKind
    server: str | None
    port: int | None
    expected_ip: str | None
    dns_server: str | None
    expected_resolvers: list[str]
    verify_url: str | None
    verify_dns_name: str | None
    egress_verified: bool
    status: ExitStatus
    last_verified_at: dt.datetime | None
    detected_ip: str | None
    bound_hosts: int
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class ExitPage(Page[ExitOut]):
    #: The fields each kind takes.
    kinds: dict[str, list[str]]


@attrs.frozen(kw_only=True)
class ExitChoice:
    """An exit a user may choose: no server, no secrets."""

    id: uuid.UUID
    label: str
    kind: ExitKind


@attrs.frozen(kw_only=True)
class ExitChoices:
    exits: list[ExitChoice]


@attrs.frozen(kw_only=True)
class BindingOut:
    id: uuid.UUID
    host_id: uuid.UUID
    host_short_id: str
    egress_ip_id: uuid.UUID
    egress_label: str
    created_at: dt.datetime


@attrs.frozen(kw_only=True)
class AuditOut:
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
class HostLogs:
    host_id: uuid.UUID
    text: str


@attrs.frozen(kw_only=True)
class DashboardStats:
    hosts_by_status: dict[str, int]
    tasks_by_status: dict[str, int]
    users: int


@attrs.frozen(kw_only=True)
class Preset:
    name: str
    cpus: float
    memory_mb: int
    disk_gb: int


@attrs.frozen(kw_only=True)
class HostOptions:
    self_service: bool
    #: How many more boxes the caller may make.
    room: int
    presets: list[Preset]
    exits: list[ExitChoice]


@attrs.frozen(kw_only=True)
class UserDeletionPending:
    """Some of the user's hosts are not deleted yet: repeat the request once the tasks ended."""

    user_deleted: Literal[False]
    tasks: list[TaskSummary]
    next: str


@attrs.frozen(kw_only=True)
class Login:
    #: The bearer token for ``Authorization: Bearer …``.
    token: str
    expires_at: dt.datetime
    role: Role


@attrs.frozen(kw_only=True)
class BootstrapStarted:
    """The start task to follow and a bootstrap-scoped token for the next steps."""

    task_id: uuid.UUID
    host_id: uuid.UUID
    short_id: str
    token: str


@attrs.frozen(kw_only=True)
class BootstrapEvent:
    seq: int
    code: str
    message: str


@attrs.frozen(kw_only=True)
class BootstrapProgress:
    status: TaskStatus
    progress: int
    #: Ask again with ``after`` set to this.
    last_seq: int
    events: list[BootstrapEvent]


@attrs.frozen(kw_only=True)
class Handoff:
    """What ``ssh`` needs: the proxy's address, the login, its host key and a one-time ticket."""

    host: str
    port: int
    user: str
    known_hosts: str
    fingerprint: str
    ticket: str
    #: Seconds the ticket stays valid.
    expires_in: int
