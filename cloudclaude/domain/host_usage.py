"""What running boxes use: the last hour of CPU, memory and disk samples per host, in memory.

``cloudclaude.background.host_stats`` records a sample of each running host every
``scanners.stats_period_s`` (the agent's ``HostStats``) and drops the hosts that stopped; the
admin pages read the history and the latest values here. Nothing is stored: a restart starts
the charts afresh. Each host keeps at most ``MAX_SAMPLES`` samples no older than ``WINDOW_S``,
so memory stays bounded whatever the period. ``server_capacity`` is what the machine offers
(CPUs and memory), for the dashboard's totals.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import attrs

#: How far back the charts go.
WINDOW_S = 3600.0
#: A host's samples at most: an hour at one per 5 s (a shorter period keeps less than an hour).
MAX_SAMPLES = 720
MEMINFO = Path("/proc/meminfo")


@attrs.frozen(kw_only=True)
class UsageSample:
    """One look at a running box (``cpu_percent``: 100 is one CPU fully used)."""

    at: dt.datetime
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    disk_used_bytes: int = 0
    disk_total_bytes: int = 0
    pids: int = 0


@attrs.frozen(kw_only=True)
class Capacity:
    """The server's CPUs and memory (bytes; 0 when ``/proc/meminfo`` cannot be read)."""

    cpus: int
    memory_bytes: int


@attrs.frozen(kw_only=True)
class UsageTotals:
    """Running hosts' limits and latest sampled use, summed (for the dashboard)."""

    running: int
    cpus_limit: float
    memory_limit_bytes: int
    cpu_used: float  # in CPUs
    memory_used_bytes: int
    sampled: int  # how many of the running hosts have a sample


class HostUsage:
    """The per-host sample history, bounded in hosts (running ones) and samples per host."""

    def __init__(self, *, window_s: float = WINDOW_S, max_samples: int = MAX_SAMPLES) -> None:
        self.window_s = window_s
        self.max_samples = max_samples
        self._samples: dict[uuid.UUID, collections.deque[UsageSample]] = {}

    def record(self, host_id: uuid.UUID, sample: UsageSample) -> None:
        samples = self._samples.get(host_id)
        if samples is None:
            samples = self._samples[host_id] = collections.deque(maxlen=self.max_samples)
        samples.append(sample)
        cutoff = sample.at - dt.timedelta(seconds=self.window_s)
        while samples and samples[0].at < cutoff:
            samples.popleft()

    def keep_only(self, host_ids: Iterable[uuid.UUID]) -> None:
        """Forget every host not in ``host_ids`` (those no longer running)."""
        keep = set(host_ids)
        for host_id in [h for h in self._samples if h not in keep]:
            del self._samples[host_id]

    def history(self, host_id: uuid.UUID) -> Sequence[UsageSample]:
        """The host's samples, oldest first (empty when it is not running or not sampled yet)."""
        return tuple(self._samples.get(host_id, ()))

    def latest(self, host_id: uuid.UUID) -> UsageSample | None:
        samples = self._samples.get(host_id)
        return samples[-1] if samples else None

    def hosts(self) -> list[uuid.UUID]:
        return list(self._samples)

    def totals(self, running: Sequence[_Limits]) -> UsageTotals:
        """The running hosts' limits and their latest samples, summed."""
        latest = [s for h in running if (s := self.latest(h.id)) is not None]
        return UsageTotals(
            running=len(running),
            cpus_limit=sum(h.cpus for h in running),
            memory_limit_bytes=sum(h.memory_mb for h in running) * 1024 * 1024,
            cpu_used=sum(s.cpu_percent for s in latest) / 100.0,
            memory_used_bytes=sum(s.memory_bytes for s in latest),
            sampled=len(latest),
        )


class _Limits(Protocol):
    """What ``totals`` reads of a host (``cloudclaude.model.hosts.Host`` has these)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def cpus(self) -> float: ...
    @property
    def memory_mb(self) -> int: ...


def server_capacity(meminfo: Path = MEMINFO) -> Capacity:
    """CPUs (``os.cpu_count``) and total memory (``MemTotal``). Blocking: a worker thread."""
    memory = 0
    try:
        with meminfo.open() as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024  # kB
                    break
    except (OSError, ValueError, IndexError):
        memory = 0
    return Capacity(cpus=os.cpu_count() or 1, memory_bytes=memory)
