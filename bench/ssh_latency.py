"""SSH keystroke latency: one byte typed into ``ssh -tt`` until the box echoes it back.

``python -m bench.ssh_latency [SAMPLES]`` (default 2000) sets up a running box per agent mode as
``bench.sshbench`` describes (``embedded``: the agent in the daemon's process; ``socket``: a
real ``cloudclaude-agent`` process the daemon reaches over its Unix socket) and opens two
interactive sessions to each, ``ssh -tt HOST 'stty raw -echo; echo ready; exec cat'`` under its
own pty (raw, as a terminal is while ssh runs):

- proxy: OpenSSH ``ssh`` -> the proxy (asyncssh) -> the box's sshd;
- direct (the baseline): OpenSSH ``ssh`` -> the box's sshd over a socket the agent opened.

All use OpenSSH's default cipher choice, what users get (printed). A separate probe process
(``--probe``, plain blocking I/O, so neither the proxy's event loop nor the GIL is on the
measured path) writes one byte to a session's pty master and times until that byte comes
back, going round the four sessions byte by byte (each round starting one session later, so
machine noise hits all alike), with a pause between keys as a typist leaves (the hops go idle
in between). After a warm-up it takes SAMPLES round trips per session and prints, per mode,
p50/p99 for each leg and what the proxy adds (target: under 1 ms added at p50). Once the
session is up the agent is off the keystroke path; it is on the path of a connection's set-up
(``OpenPort``), so CONNECTS ``ssh … true`` round trips per leg and mode, alternating the same
way, are timed too. Last, socket ÷ embedded for each figure. It asserts nothing; the sessions,
the hosts, their containers, gateways and volumes, the agent process, Postgres and the scratch
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from bench.api import main_for, p50, p95, p99
from bench.ratios import MODES, TITLES, Mode, ratio, rotated
from bench.sshbench import LEGS, Leg, SshBench, run_ssh_benches

SAMPLES = 2000
WARMUP = 200
CONNECTS = 20
GAP_S = 0.005
TARGET_ADDED_P50_MS = 1.0
READ_TIMEOUT_S = 10.0
REMOTE = "stty raw -echo; echo ready; exec cat"
REPO = Path(__file__).resolve().parent.parent


@attrs.frozen
class Results:
    #: Milliseconds per mode and leg: keystroke echo, and ``ssh … true`` round trips.
    echo: dict[Mode, dict[Leg, list[float]]]
    connect: dict[Mode, dict[Leg, list[float]]]
    ciphers: dict[Mode, dict[Leg, str]]


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


def probe(sessions: dict[str, dict[str, Any]], samples: int) -> dict[str, list[float]]:
    """``sessions``: name -> ``{"argv": [...], "env": {...}}``; milliseconds per session."""
    opened: dict[str, EchoSession] = {}
    try:
        for name, session in sessions.items():
            opened[name] = EchoSession(session["argv"], session["env"])
        for echo in opened.values():
            echo.wait_ready()
        timed: dict[str, list[float]] = {name: [] for name in opened}
        for i in range(WARMUP + samples):
            byte = bytes([ord("a") + i % 26])
            for name in rotated(list(opened), i):
                elapsed = opened[name].round_trip(byte)
                if i >= WARMUP:
                    timed[name].append(elapsed)
                time.sleep(GAP_S)
        return timed
    finally:
        for echo in opened.values():
            echo.close()


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def probe_main(spec: str) -> int:
    signal.signal(signal.SIGTERM, _terminate)  # the benchmark cancelled: close the sessions
    args: dict[str, Any] = json.loads(spec)
    try:
        timed = probe(args["sessions"], args["samples"])
    except KeyboardInterrupt:
        return 130
    print(json.dumps(timed))
    return 0


# --- the benchmark ----------------------------------------------------------------------------


def session_name(mode: Mode, leg: Leg) -> str:
    return f"{mode} {leg}"


def each_session(modes: Sequence[Mode]) -> list[tuple[Mode, Leg]]:
    return [(mode, leg) for mode in modes for leg in LEGS]


async def measure(benches: dict[Mode, SshBench], samples: int) -> Results:
    sessions = each_session(list(benches))
    ciphers: dict[Mode, dict[Leg, str]] = {mode: {} for mode in benches}
    for mode, leg in sessions:
        ciphers[mode][leg], _ = await benches[mode].handshake(leg)  # also a warm-up
    print(
        "; ".join(
            f"{mode}: direct uses {ciphers[mode]['direct']}, proxy uses {ciphers[mode]['proxy']}"
            for mode in benches
        )
        + " (upstream aes128-gcm)",
        flush=True,
    )
    print(f"{CONNECTS} connections per leg and mode (ssh ... true) ...", flush=True)
    connect: dict[Mode, dict[Leg, list[float]]] = {
        mode: {leg: [] for leg in LEGS} for mode in benches
    }
    for i in range(CONNECTS):
        for mode, leg in rotated(sessions, i):
            _, seconds = await benches[mode].handshake(leg)
            connect[mode][leg].append(seconds * 1000)
    print(
        f"{WARMUP} + {samples} keys per session, {len(sessions)} sessions,"
        f" {GAP_S * 1000:.0f} ms apart ...",
        flush=True,
    )
    spec = {
        "sessions": {
            session_name(mode, leg): {
                "argv": benches[mode].argv(leg, REMOTE, tty=True),
                "env": benches[mode].env,
            }
            for mode, leg in sessions
        },
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
    echo = {mode: {leg: timed[session_name(mode, leg)] for leg in LEGS} for mode in benches}
    return Results(echo, connect, ciphers)


def report_mode(mode: Mode, results: Results) -> None:
    samples, ciphers = results.echo[mode], results.ciphers[mode]
    direct, proxy = samples["direct"], samples["proxy"]
    print()
    print(TITLES[mode])
    print("keystroke echo round trip (ms), one byte through ssh -tt and 'cat' in the box")
    print(f"{'leg':<8} {'cipher':<30} {'n':>5} {'p50':>7} {'p99':>7} {'mean':>7} {'max':>7}")
    for leg in LEGS:
        values = samples[leg]
        print(
            f"{leg:<8} {ciphers[leg]:<30} {len(values):>5} {p50(values):>7.3f}"
            f" {p99(values):>7.3f} {statistics.mean(values):>7.3f} {max(values):>7.3f}"
        )
    added50, added99 = p50(proxy) - p50(direct), p99(proxy) - p99(direct)
    print(f"added by the proxy: p50 {added50:+.3f} ms, p99 {added99:+.3f} ms")
    print(f"ratio p50 proxy / direct: {p50(proxy) / p50(direct):.2f}x")
    verdict = "PASS" if added50 < TARGET_ADDED_P50_MS else "MISS"
    print(f"target added p50 < {TARGET_ADDED_P50_MS:.0f} ms: {added50:.3f} ms  {verdict}")
    connect = results.connect[mode]
    print(
        f"connect (ssh ... true: set-up, login, one command), n={len(connect['direct'])},"
        " p50 / p95 ms: "
        + ", ".join(f"{leg} {p50(connect[leg]):.1f} / {p95(connect[leg]):.1f}" for leg in LEGS)
    )


def _figures(values: list[float], tail: Callable[[list[float]], float]) -> tuple[float, ...]:
    return p50(values), tail(values), statistics.mean(values)


def _added(samples: dict[Leg, list[float]]) -> tuple[float, ...]:
    """What the proxy adds to the echo: proxy minus direct, figure by figure."""
    proxy, direct = _figures(samples["proxy"], p99), _figures(samples["direct"], p99)
    return tuple(p - d for p, d in zip(proxy, direct, strict=True))


def report(results: Results) -> None:
    modes = [mode for mode in MODES if mode in results.echo]
    for mode in modes:
        report_mode(mode, results)
    if modes != list(MODES):
        return
    sock, emb = results.echo["socket"], results.echo["embedded"]
    print()
    print("socket ÷ embedded, same run, sessions alternating key by key")
    rows: list[tuple[str, tuple[float, ...], tuple[float, ...]]] = [
        (f"echo {leg}", _figures(sock[leg], p99), _figures(emb[leg], p99)) for leg in LEGS
    ]
    rows.append(("echo, added by the proxy", _added(sock), _added(emb)))
    print(f"{'figure':<28} {'p50':>7} {'p99':>7} {'mean':>7}")
    for name, s_figures, e_figures in rows:
        cells = " ".join(f"{ratio(s, e):>7}" for s, e in zip(s_figures, e_figures, strict=True))
        print(f"{name:<28} {cells}")
    print(f"{'figure':<28} {'p50':>7} {'p95':>7} {'mean':>7}")
    for leg in LEGS:
        s_figures = _figures(results.connect["socket"][leg], p95)
        e_figures = _figures(results.connect["embedded"][leg], p95)
        cells = " ".join(f"{ratio(s, e):>7}" for s, e in zip(s_figures, e_figures, strict=True))
        print(f"{'connect ' + leg:<28} {cells}")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        return probe_main(sys.argv[2])
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES

    async def run(benches: dict[Mode, SshBench]) -> Results:
        return await measure(benches, samples)

    return main_for(lambda: report(run_ssh_benches(run)))


if __name__ == "__main__":
    sys.exit(main())
