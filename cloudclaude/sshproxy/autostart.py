"""Start a stopped host on connect, telling the client each stage as it is reached (trio side).

A ``stopped`` host (or a ``failed`` one: one more try) gets a start task; a host whose task is
already under way is followed, not started twice. Each new task event becomes a line
``starting: <stage>``. A start that fails ends with ``start_failed`` (or the more specific
``ssh_not_ready`` / ``egress_binding_missing``), so scripts can map it to their exit codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import trio

from cloudclaude.domain.hosts import Hosts
from cloudclaude.errors import CloudClaudeError, by_code
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host

#: Codes a failed start passes on as they are; everything else is reported as start_failed.
OWN_CODES = frozenset({"ssh_not_ready", "egress_binding_missing", "host_not_found"})
STARTABLE = frozenset({"stopped", "failed", "pending"})
POLL_S = 0.05


def start_error(code: str | None, message: str | None) -> CloudClaudeError:
    entry = by_code(code or "")
    if entry is not None and entry.slug in OWN_CODES:
        return CloudClaudeError(entry.slug, message)
    detail = f"{message or 'the start task failed'} [{code or 'no code'}]"
    return CloudClaudeError("start_failed", detail)


async def ensure_running(
    hosts: Hosts,
    host: Host,
    actor: Actor,
    say: Callable[[str], None],
    timeout_s: float,
) -> Host:
    """The host once it runs; starts it (or follows its start) when it does not yet."""
    if host.status == "running":
        return host
    try:
        with trio.fail_after(timeout_s):
            return await _start_and_follow(hosts, host, actor, say)
    except trio.TooSlowError as exc:
        raise CloudClaudeError(
            "start_failed", f"the host did not start within {timeout_s:.0f} s"
        ) from exc


async def _start_and_follow(
    hosts: Hosts, host: Host, actor: Actor, say: Callable[[str], None]
) -> Host:
    started = False
    while True:
        task_id: uuid.UUID | None = None
        if host.status in STARTABLE and not started:
            say(f"host {host.short_id} is {host.status}; starting it")
            try:
                task = await hosts.act(actor, host.id, "start", reason="ssh connect")
                task_id = task.id
                started = True
            except CloudClaudeError as exc:
                if exc.error.slug != "host_busy" or not exc.extra.get("task_id"):
                    raise
                task_id = uuid.UUID(exc.extra["task_id"])
        elif host.status in STARTABLE:
            raise start_error(host.error_code, host.error_message)
        else:
            active = await hosts.tasks.active_for(host.id)
            task_id = active.id if active is not None else None
        if task_id is not None:
            await _follow(hosts, task_id, say)
        else:
            await trio.sleep(POLL_S)
        host = await hosts.get(host.id)
        if host.status == "running":
            return host


async def _follow(hosts: Hosts, task_id: uuid.UUID, say: Callable[[str], None]) -> None:
    """Print the task's new stage events until it ends; raise when a start failed."""
    seen = 0
    while True:
        task = await hosts.tasks.get(str(task_id))
        for event in task.events[seen:]:
            say(f"starting: {event.code}")
        seen = len(task.events)
        if task.status in ("succeeded", "canceled"):
            return
        if task.status == "failed":
            if task.kind == "start":
                raise start_error(task.error_code, task.error_message)
            return
        await trio.sleep(POLL_S)
