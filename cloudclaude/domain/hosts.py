"""Host rules shared by the API and the control socket: create, actions as tasks, passwords.

A host is created with its limits, an SSH password (shown once, stored as an argon2id hash) and
a box key pair for the proxy's upstream leg (private key sealed with the server key), bound to
its exit in the same transaction (see ``cloudclaude.domain.exits``), and a ``create`` task is
queued. Every action is a task (``domain.host_tasks``); the one-active-task-per-host index turns
a second concurrent action into ``host_busy`` (409). Each admin action writes
``admin.host.action`` in the same transaction as its task. Status changes made here (degraded,
given up) compare and set through ``domain.host_states``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from agent.protocol.domains import DomainError, normalize_domains
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.auth.passwords import PasswordHasher, generate
from cloudclaude.auth.sealing import SealError, seal, unseal
from cloudclaude.core.settings import HostDefaults, TaskSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit, host_states, host_tasks, resealing, rolls
from cloudclaude.domain.exits import Exits
from cloudclaude.domain.host_specs import (
    check_limits,
    check_timezone,
    new_box_key_pair,
    new_short_id,
    visible,
)
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.audit import SYSTEM, Actor
from cloudclaude.model.hosts import Host, HostAction, HostLimits, HostStatus
from cloudclaude.model.tasks import Task

BOX_KEY_PURPOSE = resealing.BOX_KEY_PURPOSE
#: What an action does to the desired state (None: unchanged).
_DESIRED: dict[str, str | None] = {
    "start": "running",
    "stop": "stopped",
    "rebuild": None,
    "delete": "deleted",
    "verify_egress": None,
}
_RUNNING: tuple[HostStatus, ...] = ("running",)
#: A host in one of these has a gateway (or is getting one): an allowlist change applies now.
_EGRESS_LIVE: tuple[HostStatus, ...] = ("running", "degraded")


class Hosts:
    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        server_key: bytes,
        defaults: HostDefaults,
        tasks: TaskSettings,
        exits: Exits,
        agent: Agent,
    ) -> None:
        self._db = db
        self._agent = agent
        #: Looking up, listing and canceling the tasks hosts run.
        self.tasks = host_tasks.HostTasks(db)
        #: Rolling hosts forward to the current box image.
        self.rolls = rolls.Rolls(db, self, agent)
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
        start: bool = False,
    ) -> tuple[Host, str, Task]:
        """The new host (``pending``), its SSH password (shown once) and its create task.

        The host is bound to ``egress_ip_id``, else to the ``egress.default_exit`` exit when
        that is set, else to none (it cannot start until an admin binds one). ``start``: the
        create task starts it too (its desired state is ``running`` from the outset).
        """
        check_limits(limits)
        timezone = timezone or self._defaults.timezone
        check_timezone(timezone)
        password = generate()
        password_hash = await self._hasher.hash(password)
        public, private = new_box_key_pair()
        host_id = uuid.uuid4()  # known before the insert: the sealed key is bound to it
        sealed = seal(self._server_key, BOX_KEY_PURPOSE, private, owner=host_id)
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
                conn, host_id, user_id, limits, timezone, password_hash, public, sealed
            )
            if await self._exits.bind_new_host(conn, actor, host, egress_ip_id) is not None:
                host = await hosts_repo.get(conn, host.id) or host
            if start:
                host = await hosts_repo.update(conn, host.id, desired_state="running") or host
            task = await self._enqueue(
                conn, actor, host, "create", {"start": True} if start else {}
            )
        return host, password, task

    async def _insert(
        self,
        conn: Connection,
        host_id: uuid.UUID,
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
                        host_id=host_id,
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
        return await host_tasks.enqueue(
            conn,
            actor,
            host,
            kind,
            params,
            max_attempts=self._tasks.max_attempts,
            audit_type=audit_type,
        )

    async def get(self, host_id: uuid.UUID, *, owner: uuid.UUID | None = None) -> Host:
        """The host; ``owner`` set means a user asking, who sees only their own (else 404)."""
        return visible(await hosts_repo.get(self._db, host_id), host_id, owner)

    async def belongs_to(self, host_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Whether the host is (or, deleted, was) ``user_id``'s: whose its tasks are."""
        host = await hosts_repo.get(self._db, host_id)
        return host is not None and host.user_id == user_id

    async def resolve(self, ref: str) -> Host:
        """A host by id or short id (for the control socket and humans)."""
        try:
            return await self.get(uuid.UUID(ref))
        except ValueError:
            pass
        return visible(await hosts_repo.get_by_short_id(self._db, ref), ref)

    async def short_ids(self, host_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """id → short id for the hosts among ``host_ids`` (pages show names, not ids)."""
        return await hosts_repo.short_ids(self._db, host_ids) if host_ids else {}

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
            host = visible(await hosts_repo.get(conn, host_id, for_update=True), host_id, owner)
            task = await self._enqueue(conn, actor, host, action, params, audit_type)
            desired = _DESIRED[action]
            if desired is not None:
                await hosts_repo.update(conn, host.id, desired_state=desired)
        return task

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

    async def every_host(self) -> list[Host]:
        """Every host row, deleted ones too (the reconciler compares them with the agent)."""
        page = await hosts_repo.list_hosts(
            self._db, limit=1_000_000, offset=0, include_deleted=True
        )
        return page.items

    async def with_status(self, *statuses: HostStatus) -> list[Host]:
        return await hosts_repo.with_status(self._db, statuses)

    async def status_counts(self) -> dict[str, int]:
        return await hosts_repo.status_counts(self._db)

    async def changed_since(self, since: dt.datetime, owner: uuid.UUID | None) -> list[Host]:
        """Hosts changed after ``since`` (``owner``: that user's only), oldest change first."""
        return await hosts_repo.changed_since(self._db, since, user_id=owner)

    async def touch_activity(self, host_id: uuid.UUID, at: dt.datetime) -> None:
        """Record activity at ``at`` (never moves ``last_activity_at`` backwards)."""
        await hosts_repo.touch_activity(self._db, host_id, at)

    async def touch_used(self, host_id: uuid.UUID) -> None:
        """A session opened on the host: it is now the owner's most recently used one."""
        await hosts_repo.touch_used(self._db, host_id, utcnow())

    async def set_allowlist(self, actor: Actor, host_id: uuid.UUID, domains: list[str]) -> Host:
        """Store the host's domain allowlist (empty: none), audited; a host whose gateway is up
        gets it at once, open connections kept."""
        try:
            cleaned = normalize_domains(domains)
        except DomainError as exc:
            raise CloudClaudeError("validation_failed", str(exc)) from exc
        async with self._db.transaction() as conn:
            host = visible(await hosts_repo.get(conn, host_id, for_update=True), host_id)
            updated = await hosts_repo.update(conn, host_id, allowed_domains=cleaned)
            assert updated is not None
            await audit.record_for_host(
                conn, "admin.host.action", actor, host, action="allowlist", domains=cleaned
            )
        if updated.status in _EGRESS_LIVE:
            try:
                await self._agent.set_allowlist(str(updated.id), list(updated.allowed_domains))
            except AgentError as exc:
                # No gateway right now: the next start applies the stored list.
                if exc.code != state.HOST_NOT_RUNNING.code:
                    raise
        return updated

    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool:
        """A running host's egress broke: ``degraded`` with ``code`` (False if not running)."""
        moved = await host_states.compare_and_set(
            self._db, host_id, _RUNNING, "degraded", error_code=code, error_message=message
        )
        return moved is not None

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

    async def give_up(
        self, host: Host, drift: str, attempts: int, expect: tuple[HostStatus, ...]
    ) -> bool:
        """Stop repairing: ``failed`` with a code until an admin acts (False: it moved on)."""
        message = f"{drift}; the reconciler gave up after {attempts} repairs"
        async with self._db.transaction() as conn:
            moved = await host_states.compare_and_set(
                conn,
                host.id,
                expect,
                "failed",
                error_code=state.START_FAILED.code,
                error_message=message,
            )
            if moved is None:
                return False
            await audit.record_for_host(
                conn,
                "reconcile.host.drift",
                SYSTEM,
                moved,
                drift=drift,
                action="gave_up",
                attempts=attempts,
            )
        return True

    async def rotate_ssh_password(
        self, actor: Actor, host_id: uuid.UUID, *, owner: uuid.UUID | None = None
    ) -> str:
        """A new SSH password for the box (its entry link's password), returned once.

        ``owner``: the user asking for their own box (another user's is a 404)."""
        password = generate()
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as conn:
            found = await hosts_repo.get(conn, host_id, for_update=True)
            host = visible(found, host_id, owner)
            await hosts_repo.update(conn, host_id, ssh_password_hash=password_hash)
            await audit.record_for_host(
                conn, "admin.host.action", actor, host, action="rotate-ssh-password"
            )
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
        sealed = bytes(sealed)
        try:
            private = unseal(self._server_key, BOX_KEY_PURPOSE, sealed, owner=host_id)
        except SealError as exc:
            raise CloudClaudeError(
                "sealed_secret_unreadable",
                f"the box key of host {host_id} does not open with this server key in its row",
            ) from exc
        await resealing.reseal_on_read(
            self._db, self._server_key, BOX_KEY_PURPOSE, host_id, sealed, private
        )
        return private
