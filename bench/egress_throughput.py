"""Egress throughput: a 500 MB HTTP download from the simulated internet, from inside a box.

``python -m bench.egress_throughput [MB]`` (default 500, in 10^6 bytes) starts the simulated
internet (``bench.simnet``) and, through an embedded agent, two boxes with verified egress:

- socks5: the box -> its gateway (sing-box tun) -> a socks5 exit (a sing-box socks inbound in
  the simulated internet) -> whoami;
- direct (the baseline): the box -> its gateway (sing-box tun, ``direct`` outbound) -> whoami.

In each box, alternating, 3 runs per exit, ``curl -o /dev/null`` fetches
``http://198.18.1.1/bytes/<n>`` (a stream of zero bytes) and reports its own size and time
(``%{size_download}``, ``%{time_total}``), so the exec round trip of the agent is not counted.
For reference it also times the same download from the host's own network namespace straight
to the simulated internet (no box, no tunnel): what the whoami server and the kernel allow.
It prints MB/s per run, the medians and the ratio socks5 / direct. Target: >= 0.50. It asserts
nothing; the boxes, their gateways and volumes and the simulated internet are removed at the
end, also on Ctrl-C.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import trio

from agent.protocol import messages as m
from agent.runtime import open_runtime
from bench.api import interruptible, main_for, verdict
from bench.simnet import SimExit, agent_config, clear_agent, simulated_internet
from cloudclaude.agent_client.client import embedded
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.logging import configure
from tests.integration.box_exec import exec_in_host
from tests.integration.netsim import WHOAMI_IPS, SimInternet

MB = 1_000_000
REPETITIONS = 3
TARGET_RATIO = 0.50
LEGS = ("socks5", "direct")
HOST_LEG = "host netns, no tunnel"
#: curl's own figures: bytes received and seconds from the start to the last byte.
WRITE_OUT = "%{size_download} %{time_total}"


def curl_argv(size: int) -> list[str]:
    url = f"http://{WHOAMI_IPS[0]}/bytes/{size}"
    return ["curl", "-sS", "--max-time", "300", "-o", "/dev/null", "-w", WRITE_OUT, url]


def rate(stdout: str | bytes, size: int, where: str) -> float:
    """MB/s from curl's ``-w`` output; a short or failed download raises."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    fields = text.split()
    if len(fields) != 2 or int(float(fields[0])) != size:
        raise RuntimeError(f"download in {where}: {text!r} (expected {size} bytes)")
    return size / MB / float(fields[1])


async def in_box(agent: Agent, host_id: str, size: int) -> float:
    reply = await exec_in_host(host_id, curl_argv(size))  # as an operator would, via dockerd
    if reply.exit_code != 0:
        raise RuntimeError(f"curl in {host_id} exited with {reply.exit_code}: {reply.stderr}")
    return rate(reply.stdout, size, host_id)


async def on_host(size: int) -> float:
    done = await trio.run_process(curl_argv(size), capture_stdout=True)
    return rate(done.stdout, size, "the host")


async def box_with_exit(agent: Agent, exit_: SimExit) -> str:
    host_id = f"bench-{uuid.uuid4().hex[:8]}"
    await agent.create_host(host_id, m.BoxSpec(disk_gb=1))
    await agent.start_host(host_id)
    await exit_.bring_up(agent, host_id)
    return host_id


async def measure(size: int, state_dir: Path, sim: SimInternet) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {leg: [] for leg in (*LEGS, HOST_LEG)}
    async with (
        interruptible() as work,
        open_runtime(agent_config(state_dir)) as dispatcher,
        embedded(dispatcher) as client,
    ):
        agent = Agent("embedded", client)
        try:
            with work:
                print("ensuring the box image (first build takes a few minutes) ...", flush=True)
                await agent.ensure_image()
                boxes = {leg: await box_with_exit(agent, SimExit.of(sim, leg)) for leg in LEGS}
                print(f"two boxes with verified egress; {size / MB:.0f} MB per run", flush=True)
                for leg in LEGS:  # warm-up: first connection through each gateway
                    await in_box(agent, boxes[leg], MB)
                for rep in range(REPETITIONS):
                    line = []
                    for leg in LEGS if rep % 2 == 0 else LEGS[::-1]:
                        rates[leg].append(await in_box(agent, boxes[leg], size))
                        line.append(f"{leg} {rates[leg][-1]:7.1f} MB/s")
                    rates[HOST_LEG].append(await on_host(size))
                    line.append(f"{HOST_LEG} {rates[HOST_LEG][-1]:7.1f} MB/s")
                    print(f"  run {rep + 1}: " + ", ".join(line), flush=True)
        finally:
            for problem in await clear_agent(agent):
                print(f"could not remove {problem}", file=sys.stderr)
    return rates


def report(rates: dict[str, list[float]], size: int) -> None:
    medians = {leg: statistics.median(values) for leg, values in rates.items()}
    print()
    print(f"{size / MB:.0f} MB over HTTP from the simulated internet, {REPETITIONS} runs each")
    print(f"{'path':<40} {'median MB/s':>12} {'min':>8} {'max':>8}")
    for leg, label in (
        ("socks5", "box -> gateway -> socks5 exit"),
        ("direct", "box -> gateway -> direct (baseline)"),
        (HOST_LEG, f"reference: {HOST_LEG}"),
    ):
        values = rates[leg]
        print(f"{label:<40} {medians[leg]:>12.1f} {min(values):>8.1f} {max(values):>8.1f}")
    ratio = medians["socks5"] / medians["direct"]
    print(f"ratio socks5 / direct: {ratio:.2f}")
    print(f"ratio direct / {HOST_LEG}: {medians['direct'] / medians[HOST_LEG]:.2f}")
    met = verdict(ratio >= TARGET_RATIO)
    print(f"target socks5 / direct >= {TARGET_RATIO:.2f}: {ratio:.2f}  {met}")


def run(size: int) -> None:
    configure("warning", "console")
    with (
        tempfile.TemporaryDirectory(prefix="cc-bench-egress-") as scratch,
        simulated_internet() as sim,
    ):
        rates = trio.run(measure, size, Path(scratch), sim)
    report(rates, size)


def main() -> int:
    size = (int(sys.argv[1]) if len(sys.argv) > 1 else 500) * MB
    return main_for(lambda: run(size))


if __name__ == "__main__":
    sys.exit(main())
