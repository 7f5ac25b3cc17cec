"""Host rules shared by the API and the control socket: create, actions as tasks, passwords.

A host is created with its limits, an SSH password (shown once, stored as an argon2id hash) and
a box key pair for the proxy's upstream leg (private key sealed with the server key), bound to
its exit in the same transaction (see ``cloudclaude.domain.exits``), and a ``create`` task is
queued. Every action is a task; the one-active-task-per-host index turns a second concurrent
action into ``host_busy`` (409). Each admin action writes
``admin.host.action`` in the same transaction as its task.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.protocol.domains import DomainError, normalize_domains
from cloudclaude.auth.passwords import PasswordHasher, generate
from cloudclaude.auth.sealing import seal, unseal
from cloudclaude.core.settings import HostDefaults, TaskSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain.exits import Exits
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import SYSTEM, Actor, NewAuditEvent
from cloudclaude.model.hosts import Host, HostAction, HostLimits
from cloudclaude.model.tasks import Task

BOX_KEY_PURPOSE = "box-key"
_SHORT_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud safely
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
MAX_LIMITS = HostLimits(cpus=256, memory_mb=1024 * 1024, pids=1_000_000, disk_gb=16384)
MIN_LIMITS = HostLimits(cpus=0.1, memory_mb=128, pids=32, disk_gb=1)
#: What an action does to the desired state (None: unchanged).
_DESIRED: dict[str, str | None] = {
    "start": "running",
    "stop": "stopped",
    "rebuild": None,
    "delete": "deleted",
    "verify_egress": None,
}


def new_short_id() -> str:
    return "".join(secrets.choice(_SHORT_ID_ALPHABET) for _ in range(8))


def new_box_key_pair() -> tuple[str, bytes]:
    """An ed25519 key pair: the OpenSSH public line and the private key in OpenSSH PEM."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return public.decode() + " cloudclaude-proxy", private


def check_limits(limits: HostLimits) -> None:
    problems = [
        f"{name} must be between {getattr(MIN_LIMITS, name)} and {getattr(MAX_LIMITS, name)}"
        for name in ("cpus", "memory_mb", "pids", "disk_gb")
        if not getattr(MIN_LIMITS, name) <= getattr(limits, name) <= getattr(MAX_LIMITS, name)
    ]
    if problems:
        raise CloudClaudeError("validation_failed", "; ".join(problems))


def check_timezone(timezone: str) -> None:
    if not _TIMEZONE.fullmatch(timezone) or ".." in timezone or len(timezone) > 64:
        raise CloudClaudeError("validation_failed", f"timezone {timezone[:64]!r} is not Area/City")


class Hosts:
    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        server_key: bytes,
        defaults: HostDefaults,
        tasks: TaskSettings,
        exits: Exits,
    ) -> None:
        self._db = db
        self._hasher = hasher
        self._server_key = server_key
        self._defaults = defaults
        self._tasks = tasks
        self._exits = exits

    @property
    def defaults(self) -> HostLimits:
        d = self._defaults
        return HostLimits(cpus=d.cpus, memory_mb=d.memory_mb, pids=d.pids, disk_gb=d.disk_gb)

    async def create(
        self,
        actor: Actor,
        *,
        user_id: uuid.UUID,
        limits: HostLimits,
        timezone: str | None = None,
        egress_ip_id: uuid.UUID | None = None,
    ) -> tuple[Host, str, Task]:
        """The new host (``pending``), its SSH password (shown once) and its create task.

        The host is bound to ``egress_ip_id``, else to the ``egress.default_exit`` exit when
        that is set, else to none (it cannot start until an admin binds one).
        """
        check_limits(limits)
        timezone = timezone or self._defaults.timezone
        check_timezone(timezone)
        password = generate()
        password_hash = await self._hasher.hash(password)
        public, private = new_box_key_pair()
        sealed = seal(self._server_key, BOX_KEY_PURPOSE, private)
        async with self._db.transaction() as conn:
            user = await users_repo.get(conn, user_id, for_update=True)
            if user is None:
                raise CloudClaudeError("not_found", f"no user {user_id}")
            if await hosts_repo.count_for_user(conn, user_id) >= user.max_hosts:
                raise CloudClaudeError(
                    "host_limit_reached",
                    f"{user.username} already has {user.max_hosts} host(s) (max_hosts)",
                )
            host = await self._insert(
                conn, user_id, limits, timezone, password_hash, public, sealed
            )
            if await self._exits.bind_new_host(conn, actor, host, egress_ip_id) is not None:
                host = await hosts_repo.get(conn, host.id) or host
            task = await self._enqueue(conn, actor, host, "create", {})
        return host, password, task

    async def _insert(
        self,
        conn: Connection,
        user_id: uuid.UUID,
        limits: HostLimits,
        timezone: str,
        password_hash: str,
        public: str,
        sealed: bytes,
    ) -> Host:
        for _ in range(5):  # a short id collision is rare; try another
            try:
                async with conn.savepoint():
                    return await hosts_repo.insert(
                        conn,
                        short_id=new_short_id(),
                        user_id=user_id,
                        limits=limits,
                        timezone=timezone,
                        ssh_password_hash=password_hash,
                        box_public_key=public,
                        box_private_key_enc=sealed,
                    )
            except UniqueViolation:
                continue
        raise CloudClaudeError("internal_error", "could not find a free short id")

    async def _enqueue(
        self,
        conn: Connection,
        actor: Actor,
        host: Host,
        kind: str,
        params: dict[str, Any],
        audit_type: str = "admin.host.action",
    ) -> Task:
        try:
            async with conn.savepoint():
                task = await tasks_repo.insert(
                    conn,
                    host_id=host.id,
                    kind=kind,
                    params=params,
                    requested_by=actor.user_id,
                    max_attempts=self._tasks.max_attempts,
                )
        except UniqueViolation as exc:
            active = await tasks_repo.active_for_host(conn, host.id)
            busy = f"a {active.kind} task ({active.id}) is {active.status}" if active else "busy"
            raise CloudClaudeError(
                "host_busy",
                f"host {host.short_id}: {busy}",
                task_id=str(active.id) if active else None,
            ) from exc
        meta = {"action": kind, "task_id": str(task.id), **params}
        event = NewAuditEvent(
            type=audit_type,
            actor=actor,
            user_id=host.user_id,
            host_id=host.id,
            metadata=meta,
        )
        await audit_repo.insert(conn, event)
        return task

    async def get(self, host_id: uuid.UUID, *, owner: uuid.UUID | None = None) -> Host:
        """The host; ``owner`` set means a user asking, who sees only their own (else 404)."""
        host = await hosts_repo.get(self._db, host_id)
        if host is None or host.status == "deleted" or (owner and host.user_id != owner):
            raise CloudClaudeError("host_not_found", f"no host {host_id}")
        return host

    async def resolve(self, ref: str) -> Host:
        """A host by id or short id (for the control socket and humans)."""
        try:
            return await self.get(uuid.UUID(ref))
        except ValueError:
            pass
        host = await hosts_repo.get_by_short_id(self._db, ref)
        if host is None or host.status == "deleted":
            raise CloudClaudeError("host_not_found", f"no host {ref!r}")
        return host

    async def list_hosts(
        self,
        *,
        limit: int,
        offset: int,
        user_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> hosts_repo.HostPage:
        return await hosts_repo.list_hosts(
            self._db, limit=limit, offset=offset, user_id=user_id, status=status
        )

    async def act(
        self,
        actor: Actor,
        host_id: uuid.UUID,
        action: HostAction,
        *,
        owner: uuid.UUID | None = None,
        purge: bool = False,
        audit_type: str = "admin.host.action",
        reason: str | None = None,
    ) -> Task:
        """Queue ``action`` for the host and record the desired state it implies."""
        params: dict[str, Any] = {"purge": True} if action == "delete" and purge else {}
        if reason is not None:
            params["reason"] = reason
        async with self._db.transaction() as conn:
            host = await hosts_repo.get(conn, host_id, for_update=True)
            if host is None or host.status == "deleted" or (owner and host.user_id != owner):
                raise CloudClaudeError("host_not_found", f"no host {host_id}")
            task = await self._enqueue(conn, actor, host, action, params, audit_type)
            desired = _DESIRED[action]
            if desired is not None:
                await hosts_repo.update(conn, host.id, desired_state=desired)
        return task

    async def get_task(self, ref: str) -> Task:
        """A task with its events, by id (text from a URL or the command line)."""
        try:
            task = await tasks_repo.get(self._db, uuid.UUID(ref))
        except ValueError:
            task = None
        if task is None:
            raise CloudClaudeError("not_found", f"no task {ref!r}")
        return task

    async def cancel_task(self, actor: Actor, ref: str) -> Task:
        """Cancel a pending task at once, a running one at its next step (audited)."""
        task = await self.get_task(ref)
        if not task.active:
            raise CloudClaudeError("conflict", f"task {task.id} already ended ({task.status})")
        async with self._db.transaction() as conn:
            canceled = await tasks_repo.request_cancel(conn, task.id)
            assert canceled is not None
            event = NewAuditEvent(
                type="admin.host.action",
                actor=actor,
                host_id=task.host_id,
                metadata={"action": "cancel", "task_id": str(task.id), "kind": task.kind},
            )
            await audit_repo.insert(conn, event)
        return canceled

    async def stop_expired(self) -> list[Task]:
        """Queue a stop for every host meant to run whose owner has expired."""
        queued = []
        for host in await hosts_repo.running_of_expired_users(self._db):
            task = await self.system_action(host.id, "stop", "host.stop.expired", "user expired")
            if task is not None:
                queued.append(task)
        return queued

    async def running_hosts(self) -> list[Host]:
        return await hosts_repo.with_status(self._db, ("running", "degraded"))

    async def touch_activity(self, host_id: uuid.UUID, at: dt.datetime) -> None:
        """Record activity at ``at`` (never moves ``last_activity_at`` backwards)."""
        await hosts_repo.touch_activity(self._db, host_id, at)

    async def touch_used(self, host_id: uuid.UUID) -> None:
        """A session opened on the host: it is now the owner's most recently used one."""
        await hosts_repo.touch_used(self._db, host_id, utcnow())

    async def set_allowlist(self, actor: Actor, host_id: uuid.UUID, domains: list[str]) -> Host:
        """Store the host's domain allowlist (empty: none), audited; the caller applies it."""
        try:
            cleaned = normalize_domains(domains)
        except DomainError as exc:
            raise CloudClaudeError("validation_failed", str(exc)) from exc
        async with self._db.transaction() as conn:
            host = await hosts_repo.get(conn, host_id, for_update=True)
            if host is None or host.status == "deleted":
                raise CloudClaudeError("host_not_found", f"no host {host_id}")
            updated = await hosts_repo.update(conn, host_id, allowed_domains=cleaned)
            assert updated is not None
            event = NewAuditEvent(
                type="admin.host.action",
                actor=actor,
                user_id=host.user_id,
                host_id=host_id,
                metadata={"action": "allowlist", "domains": cleaned},
            )
            await audit_repo.insert(conn, event)
        return updated

    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool:
        """A running host's egress broke: ``degraded`` with ``code`` (False if not running)."""
        return await hosts_repo.degrade(self._db, host_id, code, message)

    async def active_task(self, host_id: uuid.UUID) -> Task | None:
        return await tasks_repo.active_for_host(self._db, host_id)

    async def stop_idle(self, host_id: uuid.UUID, idle_s: float) -> bool:
        reason = f"no activity for {round(idle_s)} s"
        return await self.system_action(host_id, "stop", "host.idle.stopped", reason) is not None

    async def repair(self, host_id: uuid.UUID, action: HostAction, drift: str) -> Task | None:
        """The system queues ``action`` to repair ``drift`` (None when the host is busy)."""
        return await self.system_action(host_id, action, "reconcile.host.drift", drift)

    async def system_action(
        self, host_id: uuid.UUID, action: HostAction, audit_type: str, reason: str
    ) -> Task | None:
        """The system queues ``action``, audited as ``audit_type`` (None when busy or gone)."""
        try:
            return await self.act(SYSTEM, host_id, action, audit_type=audit_type, reason=reason)
        except CloudClaudeError as exc:
            if exc.error.slug in ("host_busy", "host_not_found"):
                return None  # a task is already on it, or the host went away
            raise

    async def give_up(self, host_id: uuid.UUID, drift: str, attempts: int) -> None:
        """Stop repairing: the host is ``failed`` with a code until an admin acts."""
        message = f"{drift}; the reconciler gave up after {attempts} repairs"
        async with self._db.transaction() as conn:
            host = await hosts_repo.update(
                conn, host_id, status="failed", error_code="STATE_006", error_message=message
            )
            event = NewAuditEvent(
                type="reconcile.host.drift",
                actor=SYSTEM,
                user_id=host.user_id if host else None,
                host_id=host_id,
                metadata={"drift": drift, "action": "gave_up", "attempts": attempts},
            )
            await audit_repo.insert(conn, event)

    async def rotate_ssh_password(self, actor: Actor, host_id: uuid.UUID) -> str:
        password = generate()
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as conn:
            host = await hosts_repo.update(conn, host_id, ssh_password_hash=password_hash)
            if host is None or host.status == "deleted":
                raise CloudClaudeError("host_not_found", f"no host {host_id}")
            event = NewAuditEvent(
                type="admin.host.action",
                actor=actor,
                user_id=host.user_id,
                host_id=host.id,
                metadata={"action": "rotate-ssh-password"},
            )
            await audit_repo.insert(conn, event)
        return password

    async def verify_ssh_password(self, host_id: uuid.UUID, password: str) -> bool:
        stored, _ = await hosts_repo.get_secrets(self._db, host_id)
        return stored is not None and await self._hasher.verify(stored, password)

    async def verify_nobody(self, password: str) -> None:
        """Spend one verification's time, so a login to no host answers no faster."""
        await self._hasher.verify_nobody(password)

    async def box_private_key(self, host_id: uuid.UUID) -> bytes:
        """The box key pair's private half, for the SSH proxy's upstream leg."""
        _, sealed = await hosts_repo.get_secrets(self._db, host_id)
        if sealed is None:
            raise CloudClaudeError("host_not_found", f"no host {host_id}")
        return unseal(self._server_key, BOX_KEY_PURPOSE, sealed)
