"""The credentials endpoint's cost: time to the first streamed byte, and 100 concurrent streams.

``python -m bench.llm_gateway [N]`` (default 200 requests per leg) starts a private Postgres,
the simulated internet with the fake Messages API (``tests/integration/fake_anthropic.py``, over
TLS), and the daemon's task workers and credentials endpoint with an embedded agent; it makes a
user with a team key and one running box bound to the ``direct`` exit. Then, from inside the
box, with curl's own timings (so exec round trips are not counted):

- **gateway**: the box -> its gateway's endpoint (plain HTTP on the veth) -> the daemon, which
  looks the key and budget up in Postgres, -> sing-box's proxy -> the exit -> the fake API;
- **direct** (the baseline): the box -> sing-box's tun -> the exit -> the fake API over TLS, with
  the real key in the box (what the endpoint exists to avoid).

Both legs keep their connection alive across requests, as Claude Code does. It prints p50/p95
of time to first byte for each leg and the p50 overhead (goal: below 5 ms), then the rate of
100 concurrent streams per leg (3 rounds each, alternating) and the ratio gateway / direct.
It asserts nothing; everything it starts is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

import attrs
import trio
import trio_asyncio

from agent.egress import layout as lay
from bench.api import interruptible, main_for, verdict
from cloudclaude.core.logging import configure
from cloudclaude.core.settings import AgentSettings, DatabaseSettings, Settings
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.llmgate.forwarder import PLACEHOLDER
from cloudclaude.model.audit import Actor
from tests.integration import boxes, pg
from tests.integration.box_exec import exec_in_host
from tests.integration.fakeapi import URL as FAKE_URL
from tests.integration.fakeapi import running_fake_api
from tests.integration.hoststack import Stack, open_stack
from tests.integration.netsim import SimInternet, running_sim

KEY = "sk-ant-api03-bench-" + "k" * 40
BODY = json.dumps(
    {
        "model": "claude-bench",
        "max_tokens": 16,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
)
TARGET_OVERHEAD_MS = 5.0
STREAMS = 100
ROUNDS = 3
LEGS = ("gateway", "direct")


def _leg_args(leg: str) -> str:
    """curl's URL and credential options for one leg (shell words)."""
    if leg == "gateway":
        url = lay.llm_url(lay.parse_pool(boxes.EGRESS_POOL)) + "/v1/messages"
        return f"-H 'authorization: Bearer {PLACEHOLDER}' {shlex.quote(url)}"
    return f"-k -H 'x-api-key: {KEY}' {shlex.quote(FAKE_URL + '/v1/messages')}"


def ttfb_script(leg: str, n: int) -> str:
    """One curl, ``n`` requests on one kept-alive connection; a time to first byte per line."""
    common = (
        "-sS -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json'"
        f" -d {shlex.quote(BODY)} -w '%{{time_starttransfer}}\\n'"
    )
    url_args = _leg_args(leg)
    *options, url = shlex.split(url_args)
    urls = " ".join(f"-o /dev/null {shlex.quote(url)}" for _ in range(n))
    return f"curl {common} {' '.join(shlex.quote(o) for o in options)} {urls}"


def streams_script(leg: str) -> str:
    """``STREAMS`` streams at once; prints their wall time and how many answered 200."""
    one = (
        "curl -sS -o /dev/null -w '%{http_code}\\n' -H 'anthropic-version: 2023-06-01'"
        f" -H 'content-type: application/json' -d {shlex.quote(BODY)} {_leg_args(leg)}"
    )
    return (
        "start=$(date +%s.%N); "
        f"seq {STREAMS} | xargs -P {STREAMS} -I{{}} sh -c {shlex.quote(one)} > /tmp/codes; "
        "end=$(date +%s.%N); "
        'echo "$start $end $(grep -c ^200 /tmp/codes)"'
    )


async def in_box(host_id: str, script: str) -> str:
    done = await exec_in_host(host_id, ["sh", "-c", script], user="claude")
    if done.exit_code != 0:
        raise RuntimeError(f"in the box: {done.stderr.strip()[-500:]}")
    return done.stdout


async def measure(stack: Stack, n: int) -> dict[str, list[float]]:
    services = stack.services
    await services.credentials.create(Actor(name="bench"), "team", KEY, default=True)
    user_id, _ = await stack.user()
    status, host = await stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1, "start": True}
    )
    assert status == 201, host
    task = await stack.wait_task(host["task_id"])
    if task["status"] != "succeeded":
        raise RuntimeError(f"the box did not start: {task}")
    host_id = host["id"]
    print(f"one box running; {n} requests per leg", flush=True)
    results: dict[str, list[float]] = {}
    for leg in LEGS:  # warm-up: the first connection of each path
        await in_box(host_id, ttfb_script(leg, 5))
    for leg in LEGS:
        out = await in_box(host_id, ttfb_script(leg, n))
        results[leg] = [float(line) * 1000 for line in out.split()]
    for turn in range(ROUNDS):
        for leg in LEGS if turn % 2 == 0 else LEGS[::-1]:
            start, end, ok = (await in_box(host_id, streams_script(leg))).split()
            if int(ok) != STREAMS:
                raise RuntimeError(f"{leg}: only {ok} of {STREAMS} streams answered 200")
            results.setdefault(f"{leg} streams/s", []).append(STREAMS / (float(end) - float(start)))
    return results


def report(results: dict[str, list[float]]) -> None:
    print("\ntime to first byte (ms), kept-alive connection:")
    for leg in LEGS:
        samples = sorted(results[leg])
        p95 = samples[int(0.95 * (len(samples) - 1))]
        print(f"  {leg:8} p50 {statistics.median(samples):7.2f}   p95 {p95:7.2f}")
    overhead = statistics.median(results["gateway"]) - statistics.median(results["direct"])
    print(
        f"  overhead p50 {overhead:+.2f} ms   goal < {TARGET_OVERHEAD_MS} ms"
        f"   {verdict(overhead < TARGET_OVERHEAD_MS)}"
    )
    print(f"\n{STREAMS} concurrent streams (rounds: {ROUNDS}):")
    for leg in LEGS:
        rates = results[f"{leg} streams/s"]
        print(f"  {leg:8} " + "  ".join(f"{r:6.1f}/s" for r in rates))
    ratio = statistics.median(results["gateway streams/s"]) / statistics.median(
        results["direct streams/s"]
    )
    print(f"  ratio gateway / direct (medians): {ratio:.2f}")


async def run_async(n: int, cluster: PrivateCluster, state: Path, sim: SimInternet) -> None:
    with contextlib.ExitStack() as exits:
        url = exits.enter_context(contextlib.contextmanager(pg.fresh_database)(cluster))
        scratch = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="cc-bench-llm-")))
        api = exits.enter_context(running_fake_api(sim, scratch, [KEY]))
        settings = Settings(
            state_dir=str(scratch),
            database=DatabaseSettings(url=url),
            agent=AgentSettings(mode="embedded", egress_pool=boxes.EGRESS_POOL),
        )
        credentials = attrs.evolve(
            settings.credentials, anthropic_upstream=api.url, upstream_ca_file=str(api.ca_file)
        )
        settings = attrs.evolve(settings, credentials=credentials)
        async with (
            interruptible() as work,
            trio_asyncio.open_loop(),
            Database.open(url, max_size=5) as db,
        ):
            with work:
                async for stack in open_stack(settings, db, state, workers=True):
                    report(await measure(stack, n))


def run(n: int) -> None:
    configure("warning", "console")
    with contextlib.ExitStack() as exits:
        cluster = exits.enter_context(contextlib.contextmanager(pg.start_cluster)())
        state = exits.enter_context(contextlib.contextmanager(boxes.session_state_dir)())
        print("ensuring the box image (first build takes a few minutes) ...", flush=True)
        boxes.build_image(state)
        sim = exits.enter_context(contextlib.contextmanager(running_sim)())
        trio.run(run_async, n, cluster, state, sim)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    return main_for(lambda: run(n))


if __name__ == "__main__":
    sys.exit(main())
