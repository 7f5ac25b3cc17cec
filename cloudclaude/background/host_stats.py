"""The stats sampler: every ``scanners.stats_period_s``, each running host's CPU, memory and disk.

It asks the agent for ``HostStats`` of every running host and records the answer in the
in-memory ``HostUsage`` the admin pages chart (the last hour per host); hosts no longer running
are dropped. An agent that errs or does not answer within one period costs that host one
sample (logged), never the sampler; a database away for a while costs a round.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import DatabaseError
from cloudclaude.domain.host_usage import HostUsage, UsageSample
from cloudclaude.model.hosts import Host

log = structlog.get_logger(component="host_stats")


class RunningHosts(Protocol):
    async def running_hosts(self) -> Sequence[Host]: ...


class StatsSource(Protocol):
    async def host_stats(self, host_id: str) -> m.StatsReply: ...


def sample_of(reply: m.StatsReply, at: dt.datetime) -> UsageSample:
    return UsageSample(
        at=at,
        cpu_percent=reply.cpu_percent,
        memory_bytes=reply.memory_bytes,
        memory_limit_bytes=reply.memory_limit_bytes,
        disk_used_bytes=reply.disk_used_bytes,
        disk_total_bytes=reply.disk_total_bytes,
        pids=reply.pids,
    )


class StatsSampler:
    name = "host_stats"

    def __init__(
        self,
        store: RunningHosts,
        agent: StatsSource,
        usage: HostUsage,
        live: LiveSettings,
        stopping: trio.Event,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        self.agent = agent
        self.usage = usage
        self.live = live
        self.stopping = stopping
        self.clock = clock

    async def sample_once(self) -> int:
        """One round over the running hosts; how many were sampled."""
        period = self.live.current.scanners.stats_period_s
        hosts = await self.store.running_hosts()
        sampled = 0
        for host in hosts:
            reply = await self._look(host.id, period)
            if reply is not None:
                self.usage.record(host.id, sample_of(reply, self.clock()))
                sampled += 1
        self.usage.keep_only(h.id for h in hosts)
        return sampled

    async def _look(self, host_id: uuid.UUID, deadline_s: float) -> m.StatsReply | None:
        with trio.move_on_after(deadline_s):
            try:
                return await self.agent.host_stats(str(host_id))
            except AgentError as exc:
                log.info("stats_unknown", host_id=str(host_id), error=str(exc))
                return None
        log.warning("stats_timeout", host_id=str(host_id), deadline_s=deadline_s)
        return None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.stopping.is_set():
            try:
                await self.sample_once()
            except DatabaseError as exc:
                log.warning("stats_round_failed", error=str(exc))
            with trio.move_on_after(self.live.current.scanners.stats_period_s):
                await self.stopping.wait()
