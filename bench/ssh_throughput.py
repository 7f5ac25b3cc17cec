"""SSH throughput: 1 GB piped into ``cat > /dev/null`` in a box, through the proxy and direct.

``python -m bench.ssh_throughput [MB]`` (default 1000, in 10^6 bytes) sets up a running box as
``bench.sshbench`` describes, writes a file of random bytes (at most 64 MB, so incompressible)
and feeds it to ``ssh HOST 'cat > /dev/null'`` as many times as makes MB, from a shell
(``while ...; do cat FILE; done | ssh ...``), so no Python sits on the data path except the
proxy itself. The main figure is timed in the box (``date; cat > /dev/null; date``: the
box shares the host's clock), so connection set-up is left out; it would flatter the proxy,
as the direct leg's ``ProxyCommand`` starts a Python helper. The whole ``ssh`` run (wall) is
printed too, in brackets, and the set-up alone (one ``ssh HOST true``) below the table. Data
the proxy buffers before the box's shell starts (at most its channel window, 8 MB) is timed
by neither clock in the box: under 1 % of 1 GB.

Two legs in the same run, alternating, 3 repetitions each:

- proxy: OpenSSH ``ssh`` -> the proxy (asyncssh) -> the box's sshd; the proxy's upstream leg
  always uses AES-128-GCM;
- direct (the baseline): OpenSSH ``ssh`` -> the box's sshd over a socket the agent opened.

And two comparisons: (a) each leg with OpenSSH's default cipher choice, what users get (the
proxy offers only AES-GCM; the box's sshd also offers chacha20-poly1305, which OpenSSH
prefers), and (b) AES-128-GCM forced on both (``-c``), which isolates the relay's own cost.
It prints MB/s per run, the medians, the ratio proxy / direct and the CPU the benchmark
process (the proxy, plus an idle embedded agent) used during the proxy runs. Target: ratio
>= 0.50 (of the figures timed in the box). It asserts nothing; the host, its container and
volume, Postgres and the scratch files are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import attrs
import trio

from bench.api import main_for
from bench.sshbench import GCM, LEGS, Leg, SshBench, run_ssh_bench

MB = 1_000_000
CHUNK_MAX = 64 * MB
REPETITIONS = 3
TARGET_RATIO = 0.50
#: Feed FILE N times into the command that follows.
FEED = 'f=$1; n=$2; shift 2; i=0; while [ "$i" -lt "$n" ]; do cat "$f"; i=$((i + 1)); done | "$@"'
#: In the box: the clock before and after ``cat`` (nanoseconds), so set-up is not counted.
REMOTE = "date +%s%N; cat > /dev/null; date +%s%N"
COMPARISONS: tuple[tuple[str, str | None], ...] = (
    ("default ciphers", None),
    ("forced aes128-gcm", GCM),
)


@attrs.frozen
class Run:
    seconds: float  # in the box, from the start of ``cat`` to its end (after the last byte)
    wall: float  # the whole ``ssh`` run, connection set-up included
    cpu: float  # cores this process (the proxy) used during the run


@attrs.define
class Comparison:
    name: str
    ciphers: dict[str, str] = attrs.field(factory=dict)
    setup_ms: dict[str, float] = attrs.field(factory=dict)
    runs: dict[str, list[Run]] = attrs.field(factory=lambda: {leg: [] for leg in LEGS})


@attrs.frozen
class Results:
    total_bytes: int
    comparisons: list[Comparison]


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MB)
            f.write(os.urandom(n))
            left -= n


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def transfer(bench: SshBench, leg: Leg, cipher: str | None, data: Path, reps: int) -> Run:
    argv = ["sh", "-c", FEED, "sh", str(data), str(reps)]
    argv += bench.argv(leg, REMOTE, cipher=cipher)
    cpu = _cpu_seconds()
    started = time.perf_counter()
    done = await trio.run_process(
        argv, env=bench.env, capture_stdout=True, capture_stderr=True, check=False
    )
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    stamps = done.stdout.split()
    if done.returncode != 0 or len(stamps) != 2:
        output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        raise RuntimeError(f"{leg} transfer exited with {done.returncode}:\n{output}")
    return Run((int(stamps[1]) - int(stamps[0])) / 1e9, wall, cpu / wall)


def split_total(total_mb: int) -> tuple[int, int, int]:
    """(chunk bytes, repetitions of the chunk, total bytes) for about ``total_mb`` MB."""
    total = total_mb * MB
    reps = max(1, math.ceil(total / CHUNK_MAX))
    chunk = total // reps
    return chunk, reps, chunk * reps


def rate(total: int, seconds: float) -> float:
    return total / MB / seconds


async def measure(bench: SshBench, total_mb: int) -> Results:
    chunk, reps, total = split_total(total_mb)
    data = bench.workdir / "random.bin"
    await trio.to_thread.run_sync(write_random, data, chunk)
    print(f"{total / MB:.0f} MB per run: {reps} x {chunk / MB:.1f} MB of random bytes", flush=True)
    comparisons = []
    for name, cipher in COMPARISONS:
        comparison = Comparison(name)
        for leg in LEGS:
            negotiated, seconds = await bench.handshake(leg, cipher)  # also a warm-up
            comparison.ciphers[leg] = negotiated
            comparison.setup_ms[leg] = seconds * 1000
        print(
            f"{name}: direct uses {comparison.ciphers['direct']},"
            f" proxy uses {comparison.ciphers['proxy']} (upstream aes128-gcm)",
            flush=True,
        )
        for rep in range(REPETITIONS):
            line = []
            for leg in LEGS if rep % 2 == 0 else LEGS[::-1]:
                run = await transfer(bench, leg, cipher, data, reps)
                comparison.runs[leg].append(run)
                text = f"{leg} {rate(total, run.seconds):6.1f} MB/s"
                text += f" (wall {rate(total, run.wall):6.1f}"
                text += f", proxy CPU {run.cpu:.2f} cores)" if leg == "proxy" else ")"
                line.append(text)
            print(f"  run {rep + 1}: " + ", ".join(line), flush=True)
        comparisons.append(comparison)
    return Results(total, comparisons)


def report(results: Results) -> None:
    total = results.total_bytes
    print()
    print(
        f"{total / MB:.0f} MB into 'cat > /dev/null', {REPETITIONS} runs per leg; medians in"
        " MB/s (10^6 bytes) timed in the box, and in brackets the whole ssh run (wall)"
    )
    print(
        f"{'comparison':<18} {'direct cipher':<30} {'direct':>15}"
        f" {'proxy cipher':<23} {'proxy':>15} {'proxy/direct':>13}"
    )
    verdicts = []
    for c in results.comparisons:
        figures = {}
        for leg in LEGS:
            runs = c.runs[leg]
            figures[leg] = (
                statistics.median(rate(total, run.seconds) for run in runs),
                statistics.median(rate(total, run.wall) for run in runs),
            )
        (direct, direct_wall), (proxy, proxy_wall) = figures["direct"], figures["proxy"]
        ratio, ratio_wall = proxy / direct, proxy_wall / direct_wall
        verdicts.append((c.name, ratio))
        print(
            f"{c.name:<18} {c.ciphers['direct']:<30} {direct:>6.1f} ({direct_wall:>6.1f})"
            f" {c.ciphers['proxy']:<23} {proxy:>6.1f} ({proxy_wall:>6.1f})"
            f" {ratio:>6.2f} ({ratio_wall:.2f})"
        )
    print()
    for c in results.comparisons:
        cpu = statistics.median(run.cpu for run in c.runs["proxy"])
        print(
            f"{c.name}: connection set-up (ssh true) direct {c.setup_ms['direct']:.0f} ms,"
            f" proxy {c.setup_ms['proxy']:.0f} ms; CPU of the proxy process {cpu:.2f} cores"
        )
    print()
    for name, ratio in verdicts:
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print(f"target proxy/direct >= {TARGET_RATIO:.2f} ({name}): {ratio:.2f}  {verdict}")


def main() -> int:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1000

    async def run(bench: SshBench) -> Results:
        return await measure(bench, total_mb)

    return main_for(lambda: report(run_ssh_bench(run)))


if __name__ == "__main__":
    sys.exit(main())
