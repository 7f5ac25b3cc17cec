"""The host state machine: every status a host may move to from each status, in one table.

Everything that affects a host's status lives here (h11's ``_state.py`` is the model): the
table, the check, and the only two ways to write a status.

- A task writes under its lease: ``HostStates.by_task`` changes the row only while the task
  still holds its lease, checked in the same SQL statement as the write. A worker that lost
  its lease (another worker reclaimed the task) gets ``LeaseLost`` and must stop touching the
  host.
- Writers that hold no lease (the reconciler, the egress watch) compare and set:
  ``HostStates.compare_and_set`` writes only when the host is in one of the statuses the writer
  saw, and reports whether it did.

A move the table does not allow raises ``illegal_transition`` (STATE_013); nothing else in the
daemon writes ``hosts.status``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from cloudclaude.db.repos import Executor
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HOST_STATUSES, Host, HostAction, HostStatus

_LIVE: frozenset[HostStatus] = frozenset(s for s in HOST_STATUSES if s != "deleted")

#: status → the statuses it may move to. Staying put is always allowed for a live host (a
#: reclaimed task re-runs its steps from the top). A canceled task settles the host on what
#: the agent sees (``pending``, ``stopped`` or ``running``), from wherever it was.
TRANSITIONS: Mapping[HostStatus, frozenset[HostStatus]] = {
    "pending": frozenset({"starting", "stopping", "stopped", "failed", "deleting"}),
    "starting": frozenset({"running", "stopping", "stopped", "pending", "failed", "deleting"}),
    "running": frozenset({"degraded", "starting", "stopping", "stopped", "failed", "deleting"}),
    "degraded": frozenset({"running", "starting", "stopping", "stopped", "failed", "deleting"}),
    "stopping": frozenset({"stopped", "starting", "running", "pending", "failed", "deleting"}),
    "stopped": frozenset({"starting", "stopping", "running", "pending", "failed", "deleting"}),
    "failed": frozenset({"starting", "stopping", "stopped", "running", "pending", "deleting"}),
    "deleting": frozenset({"deleted", "failed"}),
    "deleted": frozenset(),
}


def allowed(source: HostStatus, target: HostStatus) -> bool:
    return (source == target and source in _LIVE) or target in TRANSITIONS[source]


def sources(target: HostStatus) -> frozenset[HostStatus]:
    """Every status from which ``target`` may be reached."""
    return frozenset(s for s in HOST_STATUSES if allowed(s, target))


def check(source: HostStatus, target: HostStatus) -> None:
    if not allowed(source, target):
        raise CloudClaudeError("illegal_transition", f"a host cannot go from {source} to {target}")


@attrs.frozen(kw_only=True)
class Lease:
    """The task that writes, and the worker that holds its lease."""

    task_id: uuid.UUID
    owner: str


class LeaseLost(Exception):
    """The writing task no longer holds its lease: another worker owns it now."""


async def by_task(
    db: Executor, lease: Lease, host_id: uuid.UUID, status: HostStatus | None = None, **fields: Any
) -> Host:
    """Write ``fields`` (and move to ``status``) while ``lease`` still holds the task.

    Raises ``LeaseLost`` when it does not, ``illegal_transition`` when the table forbids the
    move, ``host_not_found`` when the host is gone.
    """
    written = await hosts_repo.write(
        db,
        host_id,
        fields={**fields, **({"status": status} if status is not None else {})},
        from_statuses=sorted(sources(status)) if status is not None else sorted(_LIVE),
        lease=(lease.task_id, lease.owner),
    )
    if written is not None:
        return written
    if not await hosts_repo.lease_held(db, lease.task_id, lease.owner):
        raise LeaseLost(f"task {lease.task_id} is no longer held by {lease.owner}")
    current = await hosts_repo.get(db, host_id)
    if current is None or current.status == "deleted":
        raise CloudClaudeError("host_not_found", f"host {host_id} is gone")
    check(current.status, status or current.status)
    raise CloudClaudeError("conflict", f"host {host_id} changed while it was written")


async def compare_and_set(
    db: Executor,
    host_id: uuid.UUID,
    expect: Collection[HostStatus],
    status: HostStatus,
    **fields: Any,
) -> Host | None:
    """Move to ``status`` only from one of ``expect`` (None when the host was elsewhere)."""
    for source in expect:
        check(source, status)
    return await hosts_repo.write(
        db, host_id, fields={**fields, "status": status}, from_statuses=sorted(expect)
    )


#: What a person may ask of a host, and where each action leads: action → (the status its task
#: first moves the host to, the statuses in which it has nothing to do). The buttons a host
#: offers follow from this and ``TRANSITIONS``: no Start on a running host, nothing on a
#: deleted one. (Actions are still checked by their tasks; this only decides what is offered.)
ACTION_STEPS: Mapping[HostAction, tuple[HostStatus, frozenset[HostStatus]]] = {
    "start": ("starting", frozenset({"starting", "running", "degraded"})),
    "stop": ("stopping", frozenset({"pending", "stopping", "stopped"})),
    "rebuild": ("stopping", frozenset({"stopping"})),
    "verify_egress": (
        "running",
        frozenset({"pending", "starting", "stopping", "stopped", "failed"}),
    ),
    "delete": ("deleting", frozenset({"deleting"})),
}


def offered_actions(status: HostStatus) -> frozenset[HostAction]:
    """The actions that make sense for a host in ``status`` (what its page offers)."""
    return frozenset(
        action
        for action, (step, idle) in ACTION_STEPS.items()
        if status not in idle and allowed(status, step)
    )
