"""The idle scanner: stop a running host nobody has used for ``idle_stop_after_s``.

Activity is input, not an open connection: a tmux client typing (the agent reports the newest
``client_activity``), SSH or web-terminal traffic from the user (the proxy stamps
``last_activity_at``), or Claude Code using at least ``idle_claude_cpu_s`` of CPU between two
looks (working on its own counts). An idle SSH session keeps nothing alive. The limit is the
host's ``idle_stop_after_s`` or else ``scanners.idle_stop_after_s``; 0 means never. A stopped
host is audited as ``host.idle.stopped``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs
import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, ScannerSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import DatabaseError
from cloudclaude.model.hosts import Host

log = structlog.get_logger(component="idle")


@attrs.frozen(kw_only=True)
class Verdict:
    #: The newest activity now known (stamp it on the host when it moved).
    last_activity_at: dt.datetime
    stop: bool


def decide(
    host: Host,
    signals: m.ActivityReply | None,
    previous_cpu_s: float | None,
    now: dt.datetime,
    settings: ScannerSettings,
) -> Verdict:
    """Pure: what the signals say about the host's last activity, and whether to stop it."""
    last = host.last_activity_at or host.updated_at
    if signals is not None:
        if signals.tmux_activity_at > 0:
            typed = dt.datetime.fromtimestamp(signals.tmux_activity_at, dt.UTC)
            last = max(last, min(typed, now))
        if previous_cpu_s is not None and (
            signals.claude_cpu_s - previous_cpu_s >= settings.idle_claude_cpu_s
        ):
            last = now
    limit = (
        host.idle_stop_after_s if host.idle_stop_after_s is not None else settings.idle_stop_after_s
    )
    stop = limit > 0 and (now - last).total_seconds() >= limit
    return Verdict(last_activity_at=last, stop=stop)


class HostStore(Protocol):
    async def running_hosts(self) -> Sequence[Host]: ...
    async def touch_activity(self, host_id: uuid.UUID, at: dt.datetime) -> None: ...
    async def stop_idle(self, host_id: uuid.UUID, idle_s: float) -> bool: ...


class ActivitySource(Protocol):
    async def host_activity(self, host_id: str) -> m.ActivityReply: ...


class IdleScanner:
    name = "idle"

    def __init__(
        self,
        store: HostStore,
        agent: ActivitySource,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.store = store
        self.agent = agent
        self.live = live
        self.stopping = stopping
        self._cpu: dict[uuid.UUID, float] = {}

    async def scan_once(self) -> list[uuid.UUID]:
        settings = self.live.current.scanners
        now = self.clock()
        stopped = []
        hosts = await self.store.running_hosts()
        for host in hosts:
            try:
                signals: m.ActivityReply | None = await self.agent.host_activity(str(host.id))
            except AgentError as exc:
                log.info("activity_unknown", host_id=str(host.id), error=exc.message)
                signals = None
            verdict = decide(host, signals, self._cpu.get(host.id), now, settings)
            if signals is not None:
                self._cpu[host.id] = signals.claude_cpu_s
            if verdict.last_activity_at != host.last_activity_at:
                await self.store.touch_activity(host.id, verdict.last_activity_at)
            if verdict.stop:
                idle_s = (now - verdict.last_activity_at).total_seconds()
                if await self.store.stop_idle(host.id, idle_s):
                    log.info("host_idle_stopped", host_id=str(host.id), idle_s=round(idle_s))
                    stopped.append(host.id)
        self._cpu = {h.id: c for h in hosts if (c := self._cpu.get(h.id)) is not None}
        if self.metrics is not None:
            self.metrics.scanner_actions.labels("idle", "host_stopped").inc(len(stopped))
        return stopped

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.stopping.is_set():
            try:
                await self.scan_once()
            except DatabaseError as exc:
                log.warning("idle_scan_failed", error=str(exc))
            with trio.move_on_after(self.live.current.scanners.idle_period_s):
                await self.stopping.wait()
