"""The kill-switch watch: notices gateways whose sing-box died, and the firewall's drop counts.

The agent restarts a dead sing-box at once and counts the trip (nothing left the box meanwhile:
the only route went with the tun). Here a rising trip count marks the host ``degraded`` with
``egress_tunnel_down`` and queues a ``verify_egress`` task, audited as
``egress.killswitch.tripped``; the verification puts it back to ``running`` or keeps it
degraded. Counts seen before this process started are the baseline, not news.
"""

from __future__ import annotations

import math
import uuid
from typing import Protocol

import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.domain.errors import DatabaseError
from cloudclaude.errors import CloudClaudeError, net
from cloudclaude.model.hosts import HostAction
from cloudclaude.model.tasks import Task

log = structlog.get_logger(component="egress")
#: How often the firewall's drop counts are read for the metrics.
COUNTERS_EVERY_S = 30.0


class GatewaySource(Protocol):
    async def list_gateways(self) -> m.GatewayList: ...
    async def egress_counters(self) -> dict[str, int]: ...


class TripHandler(Protocol):
    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool: ...
    async def system_action(
        self, host_id: uuid.UUID, action: HostAction, audit_type: str, reason: str
    ) -> Task | None: ...


class EgressWatch:
    name = "egress"

    def __init__(
        self,
        agent: GatewaySource,
        hosts: TripHandler,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
    ) -> None:
        self.agent = agent
        self.hosts = hosts
        self.live = live
        self.stopping = stopping
        self.metrics = metrics
        self._seen: dict[str, int] | None = None
        self._counters_due = -math.inf

    async def scan_once(self) -> list[uuid.UUID]:
        """The hosts whose kill switch tripped since the last scan (each handled)."""
        listing = await self.agent.list_gateways()
        current = {gateway.host_id: gateway.trips for gateway in listing.gateways}
        tripped: list[uuid.UUID] = []
        if self._seen is not None:
            for host_id, trips in current.items():
                if trips > self._seen.get(host_id, 0):
                    tripped.append(uuid.UUID(host_id))
                    await self._tripped(uuid.UUID(host_id), trips)
        self._seen = current
        if self.metrics is not None:
            self.metrics.egress_gateway_watch_errors.set(listing.watch_errors)
        now = trio.current_time()
        if self.metrics is not None and now >= self._counters_due:
            # One nft call per gateway: the drop counts are read far less often than trips.
            self._counters_due = now + COUNTERS_EVERY_S
            for rule, packets in (await self.agent.egress_counters()).items():
                self.metrics.egress_dropped.labels(rule).set(packets)
        return tripped

    async def _tripped(self, host_id: uuid.UUID, trips: int) -> None:
        log.warning("killswitch_tripped", host_id=str(host_id), trips=trips)
        if self.metrics is not None:
            self.metrics.egress_killswitch_trips.inc()
        message = f"sing-box died (trip {trips}); traffic held until verified again"
        if not await self.hosts.mark_degraded(host_id, net.EGRESS_TUNNEL_DOWN.code, message):
            return  # not running (stopping, deleted): nothing to verify
        await self.hosts.system_action(
            host_id, "verify_egress", "egress.killswitch.tripped", message
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.stopping.is_set():
            try:
                await self.scan_once()
            except (AgentError, DatabaseError, CloudClaudeError) as exc:
                log.warning("egress_watch_failed", error=str(exc))
                if self.metrics is not None:
                    self.metrics.egress_watch_failures.inc()
            with trio.move_on_after(self.live.current.egress.watch_interval_s):
                await self.stopping.wait()
