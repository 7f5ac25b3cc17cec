"""SSH keystroke latency: one byte typed into ``ssh -tt`` until the box echoes it back.

``python -m bench.ssh_latency [SAMPLES]`` (default 2000) sets up a running box as
``bench.sshbench`` describes and opens two interactive sessions, each ``ssh -tt HOST 'stty raw
-echo; echo ready; exec cat'`` under its own pty (raw, as a terminal is while ssh runs):

- proxy: OpenSSH ``ssh`` -> the proxy (asyncssh) -> the box's sshd;
- direct (the baseline): OpenSSH ``ssh`` -> the box's sshd over a socket the agent opened.

Both use OpenSSH's default cipher choice, what users get (printed). A separate probe process
(``--probe``, plain blocking I/O, so neither the proxy's event loop nor the GIL is on the
measured path) writes one byte to a session's pty master and times until that byte comes
back, alternating the two sessions byte by byte, with a pause between keys as a typist
leaves (the hops go idle in between). After a warm-up it takes SAMPLES round trips per leg
and prints p50/p99 for each and what the proxy adds. Target: under 1 ms added at p50. It
asserts nothing; the sessions, the host, its container and volume, Postgres and the scratch
files are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
import tty
from pathlib import Path
from typing import Any

import attrs
import trio

from bench.api import main_for, p50, p99
from bench.sshbench import LEGS, SshBench, run_ssh_bench

SAMPLES = 2000
WARMUP = 200
GAP_S = 0.005
TARGET_ADDED_P50_MS = 1.0
READ_TIMEOUT_S = 10.0
REMOTE = "stty raw -echo; echo ready; exec cat"
REPO = Path(__file__).resolve().parent.parent


@attrs.frozen
class Results:
    samples: dict[str, list[float]]  # milliseconds per leg
    ciphers: dict[str, str]


# --- the probe (a separate process, blocking I/O) ---------------------------------------------


class EchoSession:
    """``ssh -tt`` under a raw pty; ``round_trip`` times one byte there and back."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,  # Ctrl-C reaches the probe, which then ends the session
        )
        os.close(slave)

    def _read(self) -> bytes:
        ready, _, _ = select.select([self.master], [], [], READ_TIMEOUT_S)
        if not ready:
            raise RuntimeError(f"no output from {self.process.args!r} in {READ_TIMEOUT_S} s")
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: ssh exited and closed the pty
            data = b""
        if not data:
            raise RuntimeError(f"ssh exited ({self.process.poll()})")
        return data

    def wait_ready(self) -> None:
        seen = b""
        while b"ready\n" not in seen:
            seen += self._read()

    def round_trip(self, byte: bytes) -> float:
        started = time.perf_counter_ns()
        os.write(self.master, byte)
        back = self._read()
        elapsed = time.perf_counter_ns() - started
        if back != byte:
            raise RuntimeError(f"sent {byte!r}, got {back!r}")
        return elapsed / 1e6

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.close(self.master)


def probe(argvs: dict[str, list[str]], env: dict[str, str], samples: int) -> dict[str, list[float]]:
    sessions: dict[str, EchoSession] = {}
    try:
        for leg, argv in argvs.items():
            sessions[leg] = EchoSession(argv, env)
        for session in sessions.values():
            session.wait_ready()
        timed: dict[str, list[float]] = {leg: [] for leg in sessions}
        order = list(sessions)
        for i in range(WARMUP + samples):
            byte = bytes([ord("a") + i % 26])
            for leg in order if i % 2 == 0 else order[::-1]:
                elapsed = sessions[leg].round_trip(byte)
                if i >= WARMUP:
                    timed[leg].append(elapsed)
                time.sleep(GAP_S)
        return timed
    finally:
        for session in sessions.values():
            session.close()


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def probe_main(spec: str) -> int:
    signal.signal(signal.SIGTERM, _terminate)  # the benchmark cancelled: close the sessions
    args: dict[str, Any] = json.loads(spec)
    try:
        timed = probe(args["argvs"], args["env"], args["samples"])
    except KeyboardInterrupt:
        return 130
    print(json.dumps(timed))
    return 0


# --- the benchmark ----------------------------------------------------------------------------


async def measure(bench: SshBench, samples: int) -> Results:
    ciphers: dict[str, str] = {}
    for leg in LEGS:
        ciphers[leg], _ = await bench.handshake(leg)  # also a warm-up
    print(
        f"direct uses {ciphers['direct']}, proxy uses {ciphers['proxy']} (upstream aes128-gcm);"
        f" {WARMUP} + {samples} keys per leg, {GAP_S * 1000:.0f} ms apart ...",
        flush=True,
    )
    spec = {
        "argvs": {leg: bench.argv(leg, REMOTE, tty=True) for leg in LEGS},
        "env": bench.env,
        "samples": samples,
    }
    done = await trio.run_process(
        [sys.executable, "-m", "bench.ssh_latency", "--probe", json.dumps(spec)],
        cwd=REPO,
        capture_stdout=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the probe exited with {done.returncode} (see above)")
    timed: dict[str, list[float]] = json.loads(done.stdout)
    return Results(timed, ciphers)


def report(results: Results) -> None:
    direct, proxy = results.samples["direct"], results.samples["proxy"]
    print()
    print("keystroke echo round trip (ms), one byte through ssh -tt and 'cat' in the box")
    print(f"{'leg':<8} {'cipher':<30} {'n':>5} {'p50':>7} {'p99':>7} {'mean':>7} {'max':>7}")
    for leg in LEGS:
        values = results.samples[leg]
        print(
            f"{leg:<8} {results.ciphers[leg]:<30} {len(values):>5} {p50(values):>7.3f}"
            f" {p99(values):>7.3f} {statistics.mean(values):>7.3f} {max(values):>7.3f}"
        )
    added50, added99 = p50(proxy) - p50(direct), p99(proxy) - p99(direct)
    print()
    print(f"added by the proxy: p50 {added50:+.3f} ms, p99 {added99:+.3f} ms")
    print(f"ratio p50 proxy / direct: {p50(proxy) / p50(direct):.2f}x")
    verdict = "PASS" if added50 < TARGET_ADDED_P50_MS else "MISS"
    print(f"target added p50 < {TARGET_ADDED_P50_MS:.0f} ms: {added50:.3f} ms  {verdict}")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        return probe_main(sys.argv[2])
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES

    async def run(bench: SshBench) -> Results:
        return await measure(bench, samples)

    return main_for(lambda: report(run_ssh_bench(run)))


if __name__ == "__main__":
    sys.exit(main())
