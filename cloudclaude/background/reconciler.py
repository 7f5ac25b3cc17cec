"""The reconciler: desired state, the database and what the agent reports, made to agree.

Each round (every ``scanners.reconcile_period_s``, or at once when woken) it lists the
containers the agent manages and compares them with the hosts in the database:

- a host that should run but whose container is missing or stopped gets a ``start`` task;
- a host that should be stopped but whose container runs gets a ``stop`` task;
- a container with no live host row is removed (its home volume is kept: data is never
  deleted by a guess);
- a running host whose gateway is missing gets a ``start`` (it rebuilds the gateway and
  verifies egress again); a gateway whose host is not meant to run is torn down; leftover
  gateway namespaces, links and sing-box processes are removed.

A host with a task queued or running is left to that task. Each repair writes
``reconcile.host.drift``; after ``reconcile_max_repairs`` repairs of one host within
``reconcile_window_s`` the host is left ``failed`` with an error code instead of looping.
"""

from __future__ import annotations

import datetime as dt

import attrs
import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import DatabaseError
from cloudclaude.domain.audit import AuditLog
from cloudclaude.domain.hosts import Hosts
from cloudclaude.model.audit import SYSTEM, AuditFilter
from cloudclaude.model.hosts import HOST_STATUSES, Host, HostAction
from cloudclaude.model.tasks import TASK_STATUSES

log = structlog.get_logger(component="reconciler")
#: Statuses in which a host's container may legitimately be in flux.
_SETTLED = ("running", "stopped", "degraded")


@attrs.frozen(kw_only=True)
class Repair:
    host_id: str
    drift: str
    action: str


class Reconciler:
    name = "reconciler"

    def __init__(
        self,
        agent: Agent,
        hosts: Hosts,
        audit: AuditLog,
        live: LiveSettings,
        metrics: Metrics,
        stopping: trio.Event,
    ) -> None:
        self.agent = agent
        self.hosts = hosts
        self.audit = audit
        self.live = live
        self.metrics = metrics
        self.stopping = stopping

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.stopping.is_set():
            try:
                await self.reconcile_once()
            except (DatabaseError, AgentError) as exc:
                log.warning("reconcile_failed", error=str(exc))
            with trio.move_on_after(self.live.current.scanners.reconcile_period_s):
                await self.stopping.wait()

    async def reconcile_once(self) -> list[Repair]:
        listed = await self.agent.list_hosts()
        containers = {state.host_id: state for state in listed.hosts}
        every = await self.hosts.every_host()
        rows = {str(host.id): host for host in every}
        repairs: list[Repair] = []
        for host in every:
            if host.status == "deleted" or host.status not in _SETTLED:
                continue
            repair = await self._check(host, containers.get(str(host.id)))
            if repair is not None:
                repairs.append(repair)
        for host_id, state in containers.items():
            row = rows.get(host_id)
            if row is None or row.status == "deleted":
                repairs.append(await self._remove_orphan(host_id, state))
        repairs += await self._check_gateways(rows, containers)
        for repair in repairs:
            self.metrics.reconciler_repairs.labels(repair.action).inc()
        await self._export_counts()
        return repairs

    async def _export_counts(self) -> None:
        hosts = await self.hosts.status_counts()
        for status in HOST_STATUSES:
            self.metrics.hosts.labels(status).set(hosts.get(status, 0))
        tasks = await self.hosts.tasks.status_counts()
        for task_status in TASK_STATUSES:
            self.metrics.tasks.labels(task_status).set(tasks.get(task_status, 0))

    async def _check(self, host: Host, state: m.HostState | None) -> Repair | None:
        running = state is not None and state.running
        if host.desired_state == "running" and not running:
            drift = "container missing" if state is None else "container not running"
            return await self._repair(host, drift, "start")
        if host.desired_state == "stopped" and running:
            return await self._repair(host, "container running while stopped", "stop")
        return None

    async def _repair(self, host: Host, drift: str, action: HostAction) -> Repair | None:
        if await self.hosts.tasks.active_for(host.id) is not None:
            return None  # a task is already on it
        settings = self.live.current.scanners
        since = utcnow() - dt.timedelta(seconds=settings.reconcile_window_s)
        recent = await self.audit.count(
            AuditFilter(type="reconcile.host.drift", host_id=host.id, since=since)
        )
        log.warning("host_drift", host_id=str(host.id), drift=drift, repairs=recent)
        if recent >= settings.reconcile_max_repairs:
            # Only from the status seen here: a task that moved the host meanwhile wins.
            if not await self.hosts.give_up(host, drift, recent, expect=(host.status,)):
                return None
            return Repair(host_id=str(host.id), drift=drift, action="gave_up")
        task = await self.hosts.repair(host.id, action, drift)
        return Repair(host_id=str(host.id), drift=drift, action=action if task else "busy")

    async def _check_gateways(
        self, rows: dict[str, Host], containers: dict[str, m.HostState]
    ) -> list[Repair]:
        listing = await self.agent.list_gateways()
        gateways = {gateway.host_id: gateway for gateway in listing.gateways}
        repairs: list[Repair] = []
        for host_id, row in rows.items():
            container = containers.get(host_id)
            if (
                row.status == "running"
                and row.desired_state == "running"
                and container is not None
                and container.running
                and host_id not in gateways
            ):
                repair = await self._repair(row, "gateway missing", "start")
                if repair is not None:
                    repairs.append(repair)
        for host_id in gateways:
            owner = rows.get(host_id)
            if owner is not None and owner.status not in ("stopped", "deleted", "failed"):
                continue
            if owner is not None and await self.hosts.tasks.active_for(owner.id):
                continue
            await self.agent.teardown_egress(host_id)
            repairs.append(
                await self._drift(host_id, "gateway without a running host", "torn_down")
            )
        if listing.leftovers:
            removed = await self.agent.sweep_gateways()
            for item in removed:
                repairs.append(await self._drift("", f"leftover {item}", "removed_leftover"))
        return repairs

    async def _drift(self, host_id: str, drift: str, action: str) -> Repair:
        log.warning("egress_drift", host_id=host_id, drift=drift, action=action)
        meta = {"host_id": host_id, "drift": drift, "action": action}
        await self.audit.record("reconcile.host.drift", SYSTEM, meta=meta)
        return Repair(host_id=host_id, drift=drift, action=action)

    async def _remove_orphan(self, host_id: str, state: m.HostState) -> Repair:
        log.warning("orphan_container", host_id=host_id, container=state.container_id[:12])
        await self.agent.remove_host(host_id, purge=False)
        return await self._drift(host_id, "container without a host", "removed_container")
