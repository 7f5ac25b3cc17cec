"""The idle scanner: stop a running host nobody has used for ``idle_stop_after_s``.

Activity is use the box cannot forge, counted outside it: bytes from the user through the SSH
proxy or the web terminal (they stamp ``last_activity_at``; what the box sends back does not
count, nor does an open but silent connection), and CPU time the kernel charged to the box,
read by the agent from the host's cgroup and ``/proc`` (``HostActivity``): at least
``idle_box_cpu_s`` for the whole box, or ``idle_claude_cpu_s`` for Claude Code's processes,
between two looks at the same container start. CPU a box burns counts as use, so Claude Code
working alone keeps its box up. Nothing a box prints is read. The limit is the host's
``idle_stop_after_s`` or else ``scanners.idle_stop_after_s``; 0 means never. A stopped host is
audited as ``host.idle.stopped``.
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


def used_cpu(
    signals: m.ActivityReply, previous: m.ActivityReply | None, settings: ScannerSettings
) -> bool:
    """Whether the box burned enough CPU since the previous look at the same container start."""
    if previous is None or previous.started_at != signals.started_at:
        return False  # a first look, or a restart reset the counters
    box = signals.cpu_s - previous.cpu_s
    claude = signals.claude_cpu_s - previous.claude_cpu_s
    return box >= settings.idle_box_cpu_s or claude >= settings.idle_claude_cpu_s


def decide(
    host: Host,
    signals: m.ActivityReply | None,
    previous: m.ActivityReply | None,
    now: dt.datetime,
    settings: ScannerSettings,
) -> Verdict:
    """Pure: what the signals say about the host's last activity, and whether to stop it."""
    last = host.last_activity_at or host.updated_at
    if signals is not None and used_cpu(signals, previous, settings):
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
        #: The previous look at each running host (CPU counters only ever grow per start).
        self._seen: dict[uuid.UUID, m.ActivityReply] = {}

    async def scan_once(self) -> list[uuid.UUID]:
        settings = self.live.current.scanners
        now = self.clock()
        stopped = []
        hosts = await self.store.running_hosts()
        for host in hosts:
            signals = await self._look(host.id, settings.idle_period_s)
            verdict = decide(host, signals, self._seen.get(host.id), now, settings)
            if signals is not None:
                self._seen[host.id] = signals
            if verdict.last_activity_at != host.last_activity_at:
                await self.store.touch_activity(host.id, verdict.last_activity_at)
            if verdict.stop:
                idle_s = (now - verdict.last_activity_at).total_seconds()
                if await self.store.stop_idle(host.id, idle_s):
                    log.info("host_idle_stopped", host_id=str(host.id), idle_s=round(idle_s))
                    stopped.append(host.id)
        self._seen = {h.id: seen for h in hosts if (seen := self._seen.get(h.id)) is not None}
        if self.metrics is not None:
            self.metrics.scanner_actions.labels("idle", "host_stopped").inc(len(stopped))
        return stopped

    async def _look(self, host_id: uuid.UUID, deadline_s: float) -> m.ActivityReply | None:
        """The host's counters, or None when the agent cannot tell within one period."""
        with trio.move_on_after(deadline_s):
            try:
                return await self.agent.host_activity(str(host_id))
            except AgentError as exc:
                log.info("activity_unknown", host_id=str(host_id), error=exc.message)
                return None
        log.warning("activity_timeout", host_id=str(host_id), deadline_s=deadline_s)
        return None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self.stopping.is_set():
            try:
                await self.scan_once()
            except DatabaseError as exc:
                log.warning("idle_scan_failed", error=str(exc))
            with trio.move_on_after(self.live.current.scanners.idle_period_s):
                await self.stopping.wait()
