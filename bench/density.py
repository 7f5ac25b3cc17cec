"""Density: what an idle box costs in memory (PSS) and CPU, and how many fit on one server.

``python -m bench.density [N]`` (default 20) starts the simulated internet (``bench.simnet``)
and, through an embedded agent (this process), one box with a gateway and verified egress
(the ``direct`` exit), leaves it idle and measures it (the 1-box baseline); then N-1 more, all
idle for a minute, and measures per idle box:

- memory as PSS (``/proc/<pid>/smaps_rollup``; a page shared by k processes counts 1/k to
  each, so sing-box's shared binary counts once across all gateways), and USS
  (Private_Clean + Private_Dirty, what would be freed if the process went), per component:
  the container's processes (its cgroup: tini, box-init, sshd ...), the gateway's sing-box,
  the container's containerd-shim (one per container); dockerd's and containerd's growth and
  the kernel's slab growth (network namespaces, veths, nftables) are printed per box as well;
- CPU while idle, over the idle minute: the container cgroup's usage (cgroup v1 ``cpuacct`` or
  v2 ``cpu.stat``, ``agent.ops.cgroups``) plus utime+stime of sing-box and the shim, as % of
  one core;
- the agent's growth: this process's RSS and PSS (it hosts the embedded agent) before the
  boxes, with one box and with N, per box. No daemon runs here.

Nobody is attached, so no Claude Code runs in these boxes: an idle box is sshd and the init
processes. The credentials endpoint costs no process: it is a listening socket that the daemon
holds in the gateway's namespace (not opened here). For the extrapolation of active boxes it
measures the peak RSS of ``claude --help`` inside one box (a floor for a working Claude
Code) and states the rest as assumptions. It prints figures and asserts nothing; the boxes,
their gateways and volumes and the simulated internet are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import attrs
import trio

from agent.ops import cgroups
from agent.protocol import messages as m
from agent.runtime import open_runtime
from bench.api import interruptible, main_for, verdict
from bench.proc_memory import Mem, cpu_percent, mem_of, mem_sum, pids_named, slab_kb
from bench.simnet import SimExit, agent_config, clear_agent, simulated_internet
from cloudclaude.agent_client.client import embedded
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.logging import configure
from tests.integration.box_exec import exec_in_host
from tests.integration.netsim import SimInternet

IDLE_S = 60.0
BASELINE_IDLE_S = 15.0
PSS_GOAL_MB = 10.0
CPU_GOAL_PERCENT = 0.5
SERVER_GB = 64.0
#: Kept for the host: kernel, dockerd, containerd, the daemon, Postgres, page cache.
RESERVE_GB = 4.0
#: Assumed for a box with Claude Code at work, on top of the measured idle box and the
#: measured ``claude --help`` peak: the conversation, tools it spawns (git, a shell, a build).
ACTIVE_EXTRA_MB = 300.0
PIDS_LIMIT = 4096
MiB = 1024 * 1024
COMPONENTS = ("container", "sing-box", "shim")
#: Claude Code's version, then the peak RSS (kB) of ``claude --help`` (it loads the whole
#: program, ``--version`` answers before that), as children of Python inside a box.
CLAUDE_PEAK = (
    "import resource, subprocess; "
    "v = subprocess.run(['claude', '--version'], capture_output=True, text=True).stdout; "
    "subprocess.run(['claude', '--help'], capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, v.strip())"
)


def boxes_per_server(per_box_mb: float, server_gb: float, reserve_gb: float) -> int:
    """How many boxes of ``per_box_mb`` fit in a server's memory after ``reserve_gb``."""
    if per_box_mb <= 0:
        return 0
    return max(0, int((server_gb - reserve_gb) * 1024 // per_box_mb))


@attrs.frozen
class BoxProcs:
    """Where one box's processes are on the host."""

    host_id: str
    cgroup: cgroups.Cgroup
    singbox_pid: int
    shim_pid: int

    def members(self) -> dict[str, list[int]]:
        box_pids, _ = cgroups.pids(self.cgroup, PIDS_LIMIT)
        return {
            "container": box_pids,
            "sing-box": [self.singbox_pid],
            "shim": [self.shim_pid] if self.shim_pid else [],
        }

    def cpu_s(self) -> dict[str, float]:
        def proc_cpu(pid: int) -> float:
            proc = cgroups.stat(pid) if pid else None
            return proc.cpu_s if proc is not None else 0.0

        return {
            "container": cgroups.cpu_seconds(self.cgroup),
            "sing-box": proc_cpu(self.singbox_pid),
            "shim": proc_cpu(self.shim_pid),
        }


async def locate_boxes(agent: Agent) -> list[BoxProcs]:
    hosts = {host.host_id: host for host in (await agent.list_hosts()).hosts}
    gateways = {gw.host_id: gw for gw in (await agent.list_gateways()).gateways}
    found = []
    for host_id in sorted(hosts):
        host = hosts[host_id]
        init = cgroups.stat(host.pid)
        parent = cgroups.stat(init.ppid) if init is not None else None
        shim = parent.pid if parent is not None and parent.comm.startswith("containerd-shim") else 0
        cgroup = cgroups.locate(host.pid, host.container_id)
        found.append(BoxProcs(host_id, cgroup, gateways[host_id].singbox_pid, shim))
    return found


@attrs.frozen
class Sample:
    """Per-box figures of a set of idle boxes, averaged."""

    boxes: int
    idle_s: float
    mem: dict[str, Mem]
    cpu_percent: dict[str, float]
    own: Mem
    docker: Mem
    slab_kb: int


async def sample(boxes: list[BoxProcs], idle_s: float) -> Sample:
    """Idle ``idle_s`` seconds measuring CPU, then memory; averages per box."""
    before = [box.cpu_s() for box in boxes]
    start = trio.current_time()
    await trio.sleep(idle_s)
    after = [box.cpu_s() for box in boxes]
    wall = trio.current_time() - start
    count = len(boxes)
    cpu = {
        name: cpu_percent(
            sum(a[name] - b[name] for a, b in zip(after, before, strict=True)) / count, wall
        )
        for name in COMPONENTS
    }
    mem = {name: Mem() for name in COMPONENTS}
    for box in boxes:
        for name, pids in box.members().items():
            mem[name] += mem_sum(pids)
    per_box = {
        name: Mem(v.rss_kb // count, v.pss_kb // count, v.uss_kb // count)
        for name, v in mem.items()
    }
    return Sample(
        count,
        wall,
        per_box,
        cpu,
        mem_of(os.getpid()),
        mem_sum(pids_named({"dockerd", "containerd"})),
        slab_kb(),
    )


async def start_box(agent: Agent, exit_: SimExit) -> str:
    host_id = f"bench-{uuid.uuid4().hex[:8]}"
    await agent.create_host(host_id, m.BoxSpec(disk_gb=1))
    await agent.start_host(host_id)
    await exit_.bring_up(agent, host_id)
    return host_id


async def claude_peak_kb(host_id: str) -> tuple[int, str]:
    """Peak RSS (kB) of ``claude --help`` and the version in the box; (0, why) if it fails."""
    reply = await exec_in_host(host_id, ["python3", "-c", CLAUDE_PEAK], user="claude")
    fields = reply.stdout.split(maxsplit=1)
    if reply.exit_code != 0 or not fields or not fields[0].isdigit():
        return 0, (reply.stderr or reply.stdout).strip()[:200]
    return int(fields[0]), fields[1].strip() if len(fields) > 1 else ""


@attrs.frozen
class Baseline:
    """Before any box: this process and dockerd+containerd, and the kernel's slab."""

    own: Mem
    docker: Mem
    slab_kb: int


@attrs.frozen
class Results:
    before: Baseline
    one: Sample
    many: Sample
    claude_kb: int
    claude_note: str


async def measure(count: int, state_dir: Path, sim: SimInternet) -> Results | None:
    async with (
        interruptible() as work,
        open_runtime(agent_config(state_dir)) as dispatcher,
        embedded(dispatcher) as client,
    ):
        agent = Agent("embedded", client)
        results = None
        try:
            with work:
                print("ensuring the box image (first build takes a few minutes) ...", flush=True)
                await agent.ensure_image()
                exit_ = SimExit.of(sim, "direct")
                before = Baseline(
                    mem_of(os.getpid()), mem_sum(pids_named({"dockerd", "containerd"})), slab_kb()
                )
                first = await start_box(agent, exit_)
                print(f"1 box with verified egress; idle {BASELINE_IDLE_S:.0f} s", flush=True)
                one = await sample(await locate_boxes(agent), BASELINE_IDLE_S)
                claude_kb, note = await claude_peak_kb(first)
                for started in range(2, count + 1):
                    await start_box(agent, exit_)
                    print(f"\r{started}/{count} boxes with verified egress", end="", flush=True)
                print(f"\nall idle for {IDLE_S:.0f} s ...", flush=True)
                many = await sample(await locate_boxes(agent), IDLE_S)
                results = Results(before, one, many, claude_kb, note)
        finally:
            print("removing the boxes ...", flush=True)
            for problem in await clear_agent(agent):
                print(f"could not remove {problem}", file=sys.stderr)
    return results


def mb(kb: float) -> float:
    return kb / 1024


def growth(now: Mem | int, then: Mem | int, boxes: int) -> str:
    """Per-box growth of PSS (or a kB figure) from ``then`` to ``now``."""
    a = now.pss_kb if isinstance(now, Mem) else now
    b = then.pss_kb if isinstance(then, Mem) else then
    return f"{mb(a - b) / boxes:7.2f} MB"


def report(res: Results) -> None:
    many = res.many
    labels: Mapping[str, str] = {
        "container": "container (tini, box-init, sshd ...)",
        "sing-box": "gateway sing-box",
        "shim": "containerd-shim",
    }
    print()
    print(f"{many.boxes} idle boxes (gateway + verified `direct` egress), {many.idle_s:.0f} s")
    print("No Claude Code runs in them (nobody attached). The credentials endpoint is no process:")
    print("a listening socket the daemon holds in the gateway's namespace (not opened here).")
    print()
    print(f"{'per idle box':<40} {'PSS MB':>8} {'USS MB':>8} {'RSS MB':>8} {'CPU %core':>10}")
    total_pss = total_uss = total_cpu = 0.0
    for name in COMPONENTS:
        mem, cpu = many.mem[name], many.cpu_percent[name]
        total_pss += mb(mem.pss_kb)
        total_uss += mb(mem.uss_kb)
        total_cpu += cpu
        print(
            f"{labels[name]:<40} {mb(mem.pss_kb):>8.2f} {mb(mem.uss_kb):>8.2f}"
            f" {mb(mem.rss_kb):>8.2f} {cpu:>10.3f}"
        )
    print(
        f"{'total (processes of the box)':<40} {total_pss:>8.2f} {total_uss:>8.2f}"
        f" {'':>8} {total_cpu:>10.3f}"
    )
    one_pss = sum(mb(v.pss_kb) for v in res.one.mem.values())
    one_cpu = sum(res.one.cpu_percent.values())
    print(f"{'baseline: 1 box alone':<40} {one_pss:>8.2f} {'':>8} {'':>8} {one_cpu:>10.3f}")
    print("(alone, a box's sing-box and shim share their binaries' pages with fewer processes;")
    print(f" with thousands of boxes a box's PSS tends to its USS, {total_uss:.2f} MB)")
    print()
    print("outside the box's processes, per box (growth since before the first box):")
    print(
        f"  this process (the embedded agent) PSS:  1 box {growth(res.one.own, res.before.own, 1)}"
        f", {many.boxes} boxes {growth(many.own, res.before.own, many.boxes)}"
        f" (RSS {mb(res.before.own.rss_kb):.1f} -> {mb(many.own.rss_kb):.1f} MB)"
    )
    print(
        "  dockerd + containerd PSS:              ",
        growth(many.docker, res.before.docker, many.boxes),
    )
    print(
        "  kernel slab (netns, veths, nftables):  ",
        growth(many.slab_kb, res.before.slab_kb, many.boxes),
        "(machine-wide, noisy)",
    )
    print()
    dominant = max(COMPONENTS, key=lambda name: many.mem[name].pss_kb)
    share = mb(many.mem[dominant].pss_kb) / total_pss if total_pss else 0.0
    print(
        f"dominates: {labels[dominant]}, {share:.0%} of the PSS"
        f" ({mb(many.mem[dominant].uss_kb):.2f} MB of it private)"
    )
    print(
        f"goal PSS < {PSS_GOAL_MB:.0f} MB per idle box: {total_pss:.2f} MB  "
        f"{verdict(total_pss < PSS_GOAL_MB)}"
    )
    print(
        f"goal CPU < {CPU_GOAL_PERCENT}% of a core per idle box: {total_cpu:.3f}%  "
        f"{verdict(total_cpu < CPU_GOAL_PERCENT)}"
    )
    print()
    extras = mb(max(0, many.own.pss_kb - res.before.own.pss_kb)) / many.boxes
    extras += mb(max(0, many.docker.pss_kb - res.before.docker.pss_kb)) / many.boxes
    extras += mb(max(0, many.slab_kb - res.before.slab_kb)) / many.boxes
    idle_mb = total_pss + extras
    claude_mb = mb(res.claude_kb)
    active_mb = idle_mb + claude_mb + ACTIVE_EXTRA_MB
    usable = SERVER_GB - RESERVE_GB
    print(f"on paper, a {SERVER_GB:.0f} GB server, {RESERVE_GB:.0f} GB kept for the host:")
    print(
        f"  idle box = {total_pss:.1f} MB (its processes) + {extras:.1f} MB (agent, docker,"
        f" kernel growth) = {idle_mb:.1f} MB -> {boxes_per_server(idle_mb, SERVER_GB, RESERVE_GB)}"
        f" idle boxes by memory; by CPU alone, {total_cpu:.3f}% each -> "
        f"{100 / total_cpu if total_cpu else float('inf'):.0f} per core"
    )
    if res.claude_kb:
        print(
            f"  measured: `claude --help` ({res.claude_note}) peaks at"
            f" {claude_mb:.0f} MB RSS: the program loaded, no conversation"
        )
    else:
        print(f"  `claude --help` could not be measured: {res.claude_note}")
    print(
        f"  assumed: a working Claude Code adds {ACTIVE_EXTRA_MB:.0f} MB on top of that"
        " (conversation, tools it runs)"
    )
    print(
        f"  active box = {active_mb:.0f} MB -> {boxes_per_server(active_mb, SERVER_GB, RESERVE_GB)}"
        f" active boxes in {usable:.0f} GB (memory only; CPU of active boxes not modelled)"
    )


def run(count: int) -> None:
    configure("warning", "console")
    with (
        tempfile.TemporaryDirectory(prefix="cc-bench-density-") as scratch,
        simulated_internet() as sim,
    ):
        results = trio.run(measure, count, Path(scratch), sim)
    if results is not None:
        report(results)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if count < 2:
        print("N must be at least 2 (the first box is the 1-box baseline)", file=sys.stderr)
        return 2
    return main_for(lambda: run(count))


if __name__ == "__main__":
    sys.exit(main())
