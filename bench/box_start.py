"""Box start: a stopped host until its sshd banner is readable through ``OpenPort``.

``python -m bench.box_start [RUNS]`` builds (or reuses) the box image, creates one host through an
embedded agent, and then, RUNS times (default 20): stops it, and times ``StartHost`` followed by
``OpenPort(22)`` retried until the banner arrives. That is the agent's share of a start before
the egress and SSH steps of later issues.

Baseline from the same run: plain ``docker start`` (the CLI) of the same stopped container, until
it returns. The ratio says what our start costs on top of Docker's own (volume mount check, API
round trips, waiting for sshd inside). Target: p50 under 0.5 s. It prints figures and asserts
nothing; the host and its volume are removed in ``finally``, also on Ctrl-C.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import trio

from agent.config import AgentConfig
from agent.protocol import messages as m
from agent.runtime import open_runtime
from cloudclaude.agent_client.client import AgentError, embedded
from cloudclaude.agent_client.handle import Agent

TARGET_P50_S = 0.5


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


async def measure(runs: int, state_dir: Path) -> tuple[list[float], list[float]]:
    host_id = f"bench-{uuid.uuid4().hex[:8]}"
    name = f"cloudclaude-{host_id}"
    ours: list[float] = []
    docker: list[float] = []
    async with (
        open_runtime(AgentConfig(state_dir=state_dir)) as dispatcher,
        embedded(dispatcher) as client,
    ):
        agent = Agent("embedded", client)
        try:
            print("ensuring the box image (first build takes a few minutes) ...", flush=True)
            await agent.ensure_image()
            await agent.create_host(host_id, m.BoxSpec(disk_gb=1))
            await agent.start_host(host_id)
            await banner(agent, host_id)  # warm: first boot makes host keys
            for run in range(runs):
                await agent.stop_host(host_id, grace_s=5)
                started = time.perf_counter()
                await agent.start_host(host_id)
                await banner(agent, host_id)
                ours.append(time.perf_counter() - started)

                await agent.stop_host(host_id, grace_s=5)
                started = time.perf_counter()
                await trio.run_process(["docker", "start", name], capture_stdout=True)
                docker.append(time.perf_counter() - started)
                print(f"  run {run + 1:2d}: ours {ours[-1]:.3f} s, docker start {docker[-1]:.3f} s")
        finally:
            with trio.CancelScope(shield=True):
                await agent.remove_host(host_id, purge=True)
    return ours, docker


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="cc-bench-box-") as scratch:
        try:
            ours, docker = trio.run(measure, runs, Path(scratch))
        except KeyboardInterrupt:
            return 130
    p50, p95 = percentile(ours, 0.5), percentile(ours, 0.95)
    base50, base95 = percentile(docker, 0.5), percentile(docker, 0.95)
    print()
    print(f"{'step':44} {'p50':>8} {'p95':>8}")
    print(f"{'stopped host -> sshd banner via OpenPort':44} {p50:8.3f} {p95:8.3f}")
    print(f"{'baseline: docker start (CLI)':44} {base50:8.3f} {base95:8.3f}")
    print(
        f"ratio p50 ours / docker start: {p50 / base50:.2f}x  (mean {statistics.mean(ours):.3f} s)"
    )
    verdict = "PASS" if p50 < TARGET_P50_S else "MISS"
    print(f"target p50 < {TARGET_P50_S} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
