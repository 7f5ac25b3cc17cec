"""Box start: a stopped host until its egress is verified and its sshd banner is readable.

``python -m bench.box_start [RUNS] [KIND]`` builds (or reuses) the box image, starts the
simulated internet (``bench.simnet``) and two agents (``bench.agents``): an embedded one and a
real ``cloudclaude-agent`` process on a Unix socket, each with its own state directory and
instance, and one host on each. Then, RUNS times (default 20), for each step below one sample
per agent back to back, the agents' order flipped every run (so machine noise hits both alike):

- with egress (what a start is now): stop the host, then time ``StartHost``, ``SetupEgress``
  (gateway netns, veths, nftables, sing-box tun) to the simulated internet's KIND exit
  (default ``direct``), ``VerifyEgress`` from inside the box judged as the daemon judges it
  (HTTP, the exit's address, DNS through the exit), and ``OpenPort(22)`` retried until the
  banner arrives: the agent's share of a start, in the daemon's order;
- without egress: stop, ``StartHost`` and the banner only (the start of earlier issues), so the
  gateway's and verification's share shows as the difference;
- baseline: plain ``docker start`` (the CLI) of the same stopped container, until it returns.

Each agent's figures are printed as before (the ratios say what our start costs on top of
Docker's own; targets: p50 under 1 s with egress, under 0.5 s without), then socket ÷ embedded
for each figure (the docker start row shows the noise between the two). It prints figures and
asserts nothing; the hosts, their gateways and volumes, the agent process and the simulated
internet are removed or stopped in ``finally``, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from agent.ops.names import container_name
from agent.protocol import messages as m
from bench.agents import agent_settings, agent_state_dirs, open_bench_agent
from bench.api import interruptible, main_for, verdict
from bench.ratios import MODES, TITLES, Mode, ratio, rotated
from bench.simnet import DEFAULT_KIND, SimExit, simulated_internet
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.logging import configure
from cloudclaude.core.settings import Settings

TARGET_EGRESS_P50_S = 1.0
TARGET_P50_S = 0.5
STOP_GRACE_S = 5
STEPS = ("egress", "plain", "docker")


async def banner(agent: Agent, host_id: str) -> bytes:
    with trio.fail_after(60):
        while True:
            try:
                sock = await agent.open_port(host_id, 22)
            except AgentError as exc:
                if exc.code != "NET_002":
                    raise
                await trio.sleep(0.005)
                continue
            with sock:
                sock.setblocking(True)
                sock.settimeout(10)
                data: bytes = await trio.to_thread.run_sync(sock.recv, 256)
                if data:
                    return data
                await trio.sleep(0.005)  # sshd accepted before it was ready; try again


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@attrs.define
class Samples:
    egress: list[float] = attrs.field(factory=list)
    plain: list[float] = attrs.field(factory=list)
    docker: list[float] = attrs.field(factory=list)

    def of(self, step: str) -> list[float]:
        values: list[float] = getattr(self, step)
        return values


@attrs.frozen
class Box:
    """One agent's host and the three ways of starting it."""

    agent: Agent
    host_id: str
    exit_: SimExit

    async def prepare(self) -> None:
        await self.agent.ensure_image()
        await self.agent.create_host(self.host_id, m.BoxSpec(disk_gb=1))
        await self.with_egress()  # warm: first boot makes host keys, first gateway

    async def with_egress(self) -> None:
        await self.agent.start_host(self.host_id)
        await self.exit_.bring_up(self.agent, self.host_id)
        await banner(self.agent, self.host_id)

    async def plain(self) -> None:
        await self.agent.start_host(self.host_id)
        await banner(self.agent, self.host_id)

    async def docker(self) -> None:
        name = container_name(self.host_id)
        await trio.run_process(["docker", "start", name], capture_stdout=True)

    async def timed(self, step: str) -> float:
        """Stop the host, then the seconds ``step`` takes to start it."""
        start: Callable[[], Awaitable[None]] = {
            "egress": self.with_egress,
            "plain": self.plain,
            "docker": self.docker,
        }[step]
        await self.agent.stop_host(self.host_id, grace_s=STOP_GRACE_S)
        started = time.perf_counter()
        await start()
        return time.perf_counter() - started


async def measure(runs: int, state_dirs: dict[Mode, Path], exit_: SimExit) -> dict[Mode, Samples]:
    samples = {mode: Samples() for mode in MODES}
    async with interruptible() as work, contextlib.AsyncExitStack() as agents:
        boxes: dict[Mode, Box] = {}
        for mode in MODES:  # outside ``work``: an interrupt never stops the clearing
            settings = Settings(
                state_dir=str(state_dirs[mode]), agent=agent_settings(mode, state_dirs[mode])
            )
            bench_agent = await agents.enter_async_context(open_bench_agent(settings))
            boxes[mode] = Box(bench_agent.agent, f"bench-{uuid.uuid4().hex[:8]}", exit_)
        with work:
            print("ensuring the box image (first build takes a few minutes) ...", flush=True)
            for mode in MODES:
                await boxes[mode].prepare()
            for run in range(runs):
                order = rotated(MODES, run)
                for step in STEPS:
                    for mode in order:
                        samples[mode].of(step).append(await boxes[mode].timed(step))
                figures = ", ".join(
                    f"{mode} {samples[mode].egress[-1]:.3f} / {samples[mode].plain[-1]:.3f}"
                    f" / {samples[mode].docker[-1]:.3f} s"
                    for mode in MODES
                )
                print(f"  run {run + 1:2d} (egress / none / docker start): {figures}", flush=True)
    return samples


def rows(samples: Samples, kind: str) -> tuple[tuple[str, list[float]], ...]:
    return (
        (f"stopped -> egress verified ({kind}) + sshd banner", samples.egress),
        ("stopped -> sshd banner, no egress", samples.plain),
        ("baseline: docker start (CLI)", samples.docker),
    )


def report_mode(mode: Mode, samples: Samples, kind: str) -> None:
    print()
    print(TITLES[mode])
    print(f"{'step':52} {'p50 s':>8} {'p95 s':>8} {'mean s':>8}")
    for name, values in rows(samples, kind):
        print(
            f"{name:52} {percentile(values, 0.5):8.3f} {percentile(values, 0.95):8.3f}"
            f" {statistics.mean(values):8.3f}"
        )
    egress, plain = percentile(samples.egress, 0.5), percentile(samples.plain, 0.5)
    docker = percentile(samples.docker, 0.5)
    print(f"gateway + verification share (p50 difference): {egress - plain:.3f} s")
    print(f"ratio p50 with egress / docker start: {egress / docker:.2f}x")
    print(f"ratio p50 without egress / docker start: {plain / docker:.2f}x")
    print(
        f"target p50 with egress < {TARGET_EGRESS_P50_S} s: {egress:.3f} s"
        f"  {verdict(egress < TARGET_EGRESS_P50_S)}"
    )
    print(
        f"target p50 without egress < {TARGET_P50_S} s: {plain:.3f} s"
        f"  {verdict(plain < TARGET_P50_S)}"
    )


def report(samples: dict[Mode, Samples], kind: str) -> None:
    for mode in MODES:
        report_mode(mode, samples[mode], kind)
    sock, emb = samples["socket"], samples["embedded"]
    print()
    print(f"socket ÷ embedded, {len(emb.egress)} runs each, alternating")
    print(f"{'step':52} {'p50':>8} {'p95':>8} {'mean':>8}")
    for (name, s_values), (_, e_values) in zip(rows(sock, kind), rows(emb, kind), strict=True):
        print(
            f"{name:52}"
            f" {ratio(percentile(s_values, 0.5), percentile(e_values, 0.5)):>8}"
            f" {ratio(percentile(s_values, 0.95), percentile(e_values, 0.95)):>8}"
            f" {ratio(statistics.mean(s_values), statistics.mean(e_values)):>8}"
        )
    share = {
        mode: percentile(samples[mode].egress, 0.5) - percentile(samples[mode].plain, 0.5)
        for mode in MODES
    }
    share_ratio = ratio(share["socket"], share["embedded"])
    print(f"{'gateway + verification share (p50 difference)':52} {share_ratio:>8}")


def run(runs: int, kind: str) -> None:
    configure("warning", "console")
    with (
        agent_state_dirs("bench-box-start-", MODES) as state_dirs,
        simulated_internet() as sim,
    ):
        samples = trio.run(measure, runs, state_dirs, SimExit.of(sim, kind))
    report(samples, kind)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kind = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_KIND
    return main_for(lambda: run(runs, kind))


if __name__ == "__main__":
    sys.exit(main())
