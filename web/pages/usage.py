"""What the admin pages show of running boxes' use: a host's gauges and the dashboard's totals.

The numbers come from ``cloudclaude.domain.host_usage`` (the stats sampler's last hour per
running host); the charts are ``web.pages.charts`` SVG. CPU is counted in CPUs (a box's
``cpu_percent`` of 100 is one CPU), memory and disk in bytes, each against the host's limit.
"""

from __future__ import annotations

import attrs
import trio
from markupsafe import Markup

from cloudclaude.core.timefmt import utcnow
from cloudclaude.domain.host_usage import Capacity, HostUsage, UsageTotals, server_capacity
from cloudclaude.model.hosts import Host
from web.pages.charts import human_bytes, line_chart, percent

MIB = 1024 * 1024
GIB = 1024 * MIB
_capacity: Capacity | None = None


@attrs.frozen(kw_only=True)
class Gauge:
    """One resource of a host: its name, current value against its limit, and its chart."""

    key: str
    name: str
    current: str
    chart: Markup


def host_gauges(host: Host, usage: HostUsage) -> list[Gauge]:
    """CPU, memory and disk of ``host``: the latest sample and the last hour (empty: none)."""
    samples = usage.history(host.id)
    if not samples or host.status not in ("running", "degraded"):
        return []  # a stopped host's last samples stay until the sampler's next round
    now, last = utcnow(), samples[-1]
    memory_top = last.memory_limit_bytes or host.memory_mb * MIB
    disk_top = last.disk_total_bytes or host.disk_gb * GIB
    cpus = last.cpu_percent / 100
    return [
        Gauge(
            key="cpu",
            name="CPU",
            current=f"{cpus:.2f} of {host.cpus:g} CPUs ({percent(cpus, host.cpus)})",
            chart=line_chart(
                [(s.at, s.cpu_percent / 100) for s in samples],
                end=now,
                top=host.cpus,
                label=f"CPU use over the last hour, 0 to {host.cpus:g} CPUs",
            ),
        ),
        Gauge(
            key="memory",
            name="Memory",
            current=f"{human_bytes(last.memory_bytes)} of {human_bytes(memory_top)} "
            f"({percent(last.memory_bytes, memory_top)})",
            chart=line_chart(
                [(s.at, float(s.memory_bytes)) for s in samples],
                end=now,
                top=memory_top,
                label=f"Memory use over the last hour, 0 to {human_bytes(memory_top)}",
            ),
        ),
        Gauge(
            key="disk",
            name="Disk",
            current=f"{human_bytes(last.disk_used_bytes)} of {human_bytes(disk_top)} "
            f"({percent(last.disk_used_bytes, disk_top)})",
            chart=line_chart(
                [(s.at, float(s.disk_used_bytes)) for s in samples],
                end=now,
                top=disk_top,
                label=f"Disk use over the last hour, 0 to {human_bytes(disk_top)}",
            ),
        ),
    ]


@attrs.frozen(kw_only=True)
class ServerUse:
    """The dashboard's "running boxes against the server" lines."""

    totals: UsageTotals
    capacity: Capacity
    cpu: str
    memory: str
    limits: str


async def server_use(usage: HostUsage, running: list[Host]) -> ServerUse:
    """Running hosts' sampled use and summed limits against the server's CPUs and memory."""
    global _capacity  # read once: the machine does not change under us
    if _capacity is None:
        _capacity = await trio.to_thread.run_sync(server_capacity)
    cap, totals = _capacity, usage.totals(running)
    memory_total = cap.memory_bytes
    return ServerUse(
        totals=totals,
        capacity=cap,
        cpu=f"{totals.cpu_used:.2f} of {cap.cpus} CPUs ({percent(totals.cpu_used, cap.cpus)})",
        memory=f"{human_bytes(totals.memory_used_bytes)} of {human_bytes(memory_total)} "
        f"({percent(totals.memory_used_bytes, memory_total)})",
        limits=f"{totals.cpus_limit:g} CPUs ({percent(totals.cpus_limit, cap.cpus)}) and "
        f"{human_bytes(totals.memory_limit_bytes)} "
        f"({percent(totals.memory_limit_bytes, memory_total)}) promised",
    )


@attrs.frozen(kw_only=True)
class BoxRow:
    """A running box on the dashboard: its latest use against its limits ("-" unsampled)."""

    host: Host
    cpu: str
    memory: str
    disk: str


def box_rows(running: list[Host], usage: HostUsage) -> list[BoxRow]:
    rows = []
    for host in running:
        last = usage.latest(host.id)
        if last is None:
            rows.append(BoxRow(host=host, cpu="-", memory="-", disk="-"))
            continue
        memory_top = last.memory_limit_bytes or host.memory_mb * MIB
        disk_top = last.disk_total_bytes or host.disk_gb * GIB
        rows.append(
            BoxRow(
                host=host,
                cpu=f"{last.cpu_percent / 100:.2f} / {host.cpus:g}",
                memory=f"{human_bytes(last.memory_bytes)} / {human_bytes(memory_top)}",
                disk=f"{human_bytes(last.disk_used_bytes)} / {human_bytes(disk_top)}",
            )
        )
    return rows
