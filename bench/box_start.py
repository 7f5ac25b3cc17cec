"""Box start: a stopped host until its egress is verified and its sshd banner is readable.

``python -m bench.box_start [RUNS] [KIND]`` builds (or reuses) the box image, starts the
simulated internet (``bench.simnet``), creates one host through an embedded agent, and then,
RUNS times (default 20), alternating:

- with egress (what a start is now): stop the host, then time ``StartHost``, ``SetupEgress``
  (gateway netns, veths, nftables, sing-box tun) to the simulated internet's KIND exit
  (default ``direct``), ``VerifyEgress`` from inside the box judged as the daemon judges it
  (HTTP, the exit's address, DNS through the exit), and ``OpenPort(22)`` retried until the
  banner arrives: the agent's share of a start, in the daemon's order;
- without egress: stop, ``StartHost`` and the banner only (the start of earlier issues), so the
  gateway's and verification's share shows as the difference.

Baseline from the same run: plain ``docker start`` (the CLI) of the same stopped container, until
it returns. The ratios say what our start costs on top of Docker's own. Targets: p50 under 1 s
with egress, under 0.5 s without. It prints figures and asserts nothing; the host, its gateway
and its volume are removed in ``finally``, and the simulated internet stopped, also on Ctrl-C.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from agent.protocol import messages as m
from agent.runtime import open_runtime
from bench.api import interruptible, main_for, verdict
from bench.simnet import DEFAULT_KIND, SimExit, agent_config, clear_agent, simulated_internet
from cloudclaude.agent_client.client import AgentError, embedded
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.logging import configure

TARGET_EGRESS_P50_S = 1.0
TARGET_P50_S = 0.5
STOP_GRACE_S = 5


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


async def timed(agent: Agent, host_id: str, start: Callable[[], Awaitable[object]]) -> float:
    """Stop the host, then the seconds ``start`` takes."""
    await agent.stop_host(host_id, grace_s=STOP_GRACE_S)
    started = time.perf_counter()
    await start()
    return time.perf_counter() - started


async def measure(runs: int, state_dir: Path, exit_: SimExit) -> Samples:
    host_id = f"bench-{uuid.uuid4().hex[:8]}"
    name = f"cloudclaude-{host_id}"
    samples = Samples()
    async with (
        interruptible() as work,
        open_runtime(agent_config(state_dir)) as dispatcher,
        embedded(dispatcher) as client,
    ):
        agent = Agent("embedded", client)

        async def with_egress() -> None:
            await agent.start_host(host_id)
            await exit_.bring_up(agent, host_id)
            await banner(agent, host_id)

        async def plain() -> None:
            await agent.start_host(host_id)
            await banner(agent, host_id)

        async def docker_start() -> None:
            await trio.run_process(["docker", "start", name], capture_stdout=True)

        try:
            with work:
                print("ensuring the box image (first build takes a few minutes) ...", flush=True)
                await agent.ensure_image()
                await agent.create_host(host_id, m.BoxSpec(disk_gb=1))
                await with_egress()  # warm: first boot makes host keys, first gateway
                for run in range(runs):
                    samples.egress.append(await timed(agent, host_id, with_egress))
                    samples.plain.append(await timed(agent, host_id, plain))
                    samples.docker.append(await timed(agent, host_id, docker_start))
                    print(
                        f"  run {run + 1:2d}: with egress {samples.egress[-1]:.3f} s,"
                        f" without {samples.plain[-1]:.3f} s,"
                        f" docker start {samples.docker[-1]:.3f} s",
                        flush=True,
                    )
        finally:
            for problem in await clear_agent(agent):
                print(f"could not remove {problem}", file=sys.stderr)
    return samples


def report(samples: Samples, kind: str) -> None:
    rows = (
        (f"stopped -> egress verified ({kind}) + sshd banner", samples.egress),
        ("stopped -> sshd banner, no egress", samples.plain),
        ("baseline: docker start (CLI)", samples.docker),
    )
    print()
    print(f"{'step':52} {'p50 s':>8} {'p95 s':>8} {'mean s':>8}")
    for name, values in rows:
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


def run(runs: int, kind: str) -> None:
    configure("warning", "console")
    with (
        tempfile.TemporaryDirectory(prefix="cc-bench-box-") as scratch,
        simulated_internet() as sim,
    ):
        samples = trio.run(measure, runs, Path(scratch), SimExit.of(sim, kind))
    report(samples, kind)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kind = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_KIND
    return main_for(lambda: run(runs, kind))


if __name__ == "__main__":
    sys.exit(main())
