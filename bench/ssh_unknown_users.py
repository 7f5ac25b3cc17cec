"""Key offers for unknown users against wrong keys for real users: does the timing tell them apart?

``python -m bench.ssh_unknown_users [ROUNDS]`` (default 300) sets up the embedded stack of
``bench.sshbench`` (a user with a registered key and a running box behind the proxy), then
times, alternating each round which goes first, a public-key login with a key registered for
nobody (asyncssh's client, in this process) as the real user and as a username that does not
exist. Both are refused; it prints each median and unknown ÷ known (about 1.00 is the goal: the
proxy runs the same queries and comparisons for both). It asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time

import asyncssh
import trio_asyncio

from bench.api import main_for
from bench.sshbench import SshBench, run_ssh_bench

ROUNDS = 300
WARMUP = 20
UNKNOWN = "nobody-bench-user"


async def attempt(port: int, username: str, key: asyncssh.SSHKey) -> float:
    """Milliseconds for one refused public-key login (connection set-up included)."""
    started = time.perf_counter()
    try:
        conn = await trio_asyncio.aio_as_trio(asyncssh.connect)(
            "127.0.0.1",
            port,
            username=username,
            client_keys=[key],
            known_hosts=None,
            agent_path=None,
            preferred_auth="publickey",
        )
    except asyncssh.PermissionDenied:
        return (time.perf_counter() - started) * 1000
    conn.close()
    raise AssertionError(f"{username} logged in with a key registered for nobody")


async def measure(bench: SshBench, rounds: int) -> dict[str, list[float]]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    samples: dict[str, list[float]] = {"known": [], "unknown": []}
    names = {"known": bench.username, "unknown": UNKNOWN}
    for turn in range(WARMUP + rounds):
        order = ("known", "unknown") if turn % 2 == 0 else ("unknown", "known")
        for which in order:
            ms = await attempt(bench.proxy_port, names[which], key)
            if turn >= WARMUP:
                samples[which].append(ms)
    return samples


def report(samples: dict[str, list[float]]) -> None:
    known = statistics.median(samples["known"])
    unknown = statistics.median(samples["unknown"])
    print(f"refused key login, median of {len(samples['known'])} each:")
    print(f"  real user, wrong key   {known:8.2f} ms")
    print(f"  unknown user           {unknown:8.2f} ms")
    print(f"unknown/known median ratio: {unknown / known:.3f}")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS

    async def run(bench: SshBench) -> dict[str, list[float]]:
        return await measure(bench, rounds)

    return main_for(lambda: report(run_ssh_bench(run)))


if __name__ == "__main__":
    sys.exit(main())
