"""What processes cost in memory and CPU, read from ``/proc``: PSS and USS from
``smaps_rollup`` (a page shared by k processes counts 1/k to each), ``/proc/meminfo`` figures,
and processes found by name. For the density bench, whose figures are sums of these."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from agent.ops import cgroups


@attrs.frozen
class Mem:
    """One process's (or a sum's) memory in kB, from ``smaps_rollup``."""

    rss_kb: int = 0
    pss_kb: int = 0
    uss_kb: int = 0

    def __add__(self, other: Mem) -> Mem:
        return Mem(
            self.rss_kb + other.rss_kb, self.pss_kb + other.pss_kb, self.uss_kb + other.uss_kb
        )


def parse_smaps_rollup(text: str) -> Mem:
    """``Rss``, ``Pss`` and ``Private_Clean + Private_Dirty`` (kB) of a ``smaps_rollup``."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return Mem(
        fields.get("Rss", 0),
        fields.get("Pss", 0),
        fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    )


def mem_of(pid: int) -> Mem:
    """A process's memory; nothing when it has gone (or is a kernel thread)."""
    try:
        return parse_smaps_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:
        return Mem()


def mem_sum(pids: Iterable[int]) -> Mem:
    total = Mem()
    for pid in pids:
        total += mem_of(pid)
    return total


def cpu_percent(cpu_s: float, wall_s: float) -> float:
    """CPU seconds spent over ``wall_s`` seconds as % of one core."""
    return 100.0 * cpu_s / wall_s if wall_s > 0 else 0.0


def parse_meminfo(text: str, key: str) -> int:
    """One ``/proc/meminfo`` figure in kB (0 when absent)."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == key and rest.split():
            return int(rest.split()[0])
    return 0


def slab_kb() -> int:
    return parse_meminfo(Path("/proc/meminfo").read_text(), "Slab")


def pids_named(names: set[str]) -> list[int]:
    """Host processes whose ``comm`` is one of ``names`` (dockerd, containerd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            proc = cgroups.stat(int(entry.name))
            if proc is not None and proc.comm in names:
                found.append(proc.pid)
    return found
