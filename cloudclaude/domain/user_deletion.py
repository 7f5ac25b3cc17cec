"""Deleting a user, and with ``with_hosts`` their hosts first (as ``delete`` tasks).

Deleted hosts never block: only hosts that are not ``deleted`` count. Their rows are kept for
the audit trail (migration 0008): when the user row goes, ``hosts.user_id`` becomes NULL and
``hosts.former_user_id`` keeps who owned the host, so ``Host.user_id`` still names the former
owner (the repository reads ``COALESCE(user_id, former_user_id)``), like
``audit_events.user_id``, which was never a foreign key; every audit event stays as it was, and
``admin.user.deleted`` carries the username. A check constraint makes a host that is not
deleted always have an owner, so the database refuses what this module refuses.

``with_hosts`` queues a ``delete`` task for each live host through ``Hosts.act`` (the same path
as ``DELETE /v1/admin/hosts/{id}``, audited as ``admin.host.action``), reusing a delete task
already queued, then waits up to ``wait_s`` for them to end. The user is deleted once all their
hosts are; otherwise the result names the tasks and the user stays: asking again (idempotent,
no second task is queued) finishes the deletion once the tasks are done.
"""

from __future__ import annotations

import uuid

import attrs
import trio

from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit
from cloudclaude.domain.accounts import guard_last_admin
from cloudclaude.domain.hosts import Hosts
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task

#: The longest a caller may wait for the hosts' delete tasks in one request.
MAX_WAIT_S = 120.0
_POLL_S = 0.25


@attrs.frozen(kw_only=True)
class UserDeletion:
    username: str
    #: Whether the user row is gone; False: their hosts' delete tasks have not all succeeded.
    deleted: bool
    #: The delete tasks of the user's hosts (queued by this call or before), as last read.
    tasks: list[Task] = attrs.field(factory=list)


class UserDeleter:
    def __init__(self, db: Database, hosts: Hosts) -> None:
        self._db = db
        self._hosts = hosts

    async def delete(
        self, actor: Actor, user_id: uuid.UUID, *, with_hosts: bool = False, wait_s: float = 0.0
    ) -> UserDeletion:
        """Delete the user, or (``with_hosts``) queue their hosts' deletion first."""
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise CloudClaudeError("validation_failed", f"wait_s: must be 0..{MAX_WAIT_S:g}")
        outcome = await self._delete_if_no_hosts(actor, user_id)
        if isinstance(outcome, UserDeletion):
            return outcome
        username, live = outcome
        if not with_hosts:
            raise CloudClaudeError(
                state.USER_HAS_HOSTS,
                f"{username} still has {len(live)} host(s) that are not deleted"
                f" ({', '.join(h.short_id for h in live)}); pass with_hosts=true to delete them"
                " first, or delete them yourself",
            )
        queued = [await self._delete_task(actor, host, username) for host in live]
        tasks = [t for t in queued if t is not None]
        with trio.move_on_after(wait_s):
            while any(t.active for t in tasks):
                await trio.sleep(_POLL_S)
                tasks = await self._reread(tasks)
        outcome = await self._delete_if_no_hosts(actor, user_id)
        if isinstance(outcome, UserDeletion):
            return attrs.evolve(outcome, tasks=await self._reread(tasks))
        return UserDeletion(username=username, deleted=False, tasks=await self._reread(tasks))

    async def _delete_if_no_hosts(
        self, actor: Actor, user_id: uuid.UUID
    ) -> UserDeletion | tuple[str, list[Host]]:
        """Delete the user when no live host is left; else their name and live hosts."""
        async with self._db.transaction() as conn:
            user = await users_repo.get(conn, user_id, for_update=True)
            if user is None:
                raise CloudClaudeError("not_found", "no such user")
            await guard_last_admin(conn, user, attrs.evolve(user, status="disabled"))
            live = await hosts_repo.live_for_user(conn, user_id)
            if live:
                return user.username, live
            kept = await hosts_repo.keep_former_owner(conn, user_id)
            await users_repo.delete(conn, user_id)
            meta = {"username": user.username, "role": user.role, "deleted_hosts_kept": kept}
            await audit.record(conn, "admin.user.deleted", actor, user_id=user_id, meta=meta)
        return UserDeletion(username=user.username, deleted=True)

    async def _delete_task(self, actor: Actor, host: Host, username: str) -> Task | None:
        """The host's active delete task, or a new one (None: the host was deleted meanwhile).

        A host busy with another task (a create, a start, ...) is ``host_busy`` (409), naming
        that task: ask again once it ended."""
        active = await tasks_repo.active_for_host(self._db, host.id)
        if active is not None and active.kind == "delete":
            return active
        try:
            return await self._hosts.act(
                actor, host.id, "delete", reason=f"deleting user {username}"
            )
        except CloudClaudeError as exc:
            if exc.error.slug == "host_not_found":
                return None
            raise

    async def _reread(self, tasks: list[Task]) -> list[Task]:
        fresh = []
        for task in tasks:
            found = await tasks_repo.get(self._db, task.id)
            fresh.append(found if found is not None else task)
        return fresh
