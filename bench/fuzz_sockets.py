"""Fuzz the agent socket and the ctl socket with Hypothesis-generated frames (issue 19).

``python -m bench.fuzz_sockets [--frames 100000]`` starts a real ``cloudclaude-agent`` on a
scratch socket and a real ``cloudclaude run`` (private Postgres, embedded agent), sends half
the frames to each, and prints the figures: frames per kind, answers per code, closes, and the
serving process's RSS before and after. ``make fuzz`` runs it; the integration test
(tests/integration/test_socket_fuzz.py) runs ``campaign`` with a smaller count.

``python -m bench.fuzz_sockets client agent|ctl SOCKET N`` is the sender alone: it runs in its
own process, so the server's RSS is not mixed with Hypothesis's, and prints its figures as JSON.
Every frame must get a coded answer (a reply, or an error whose code is in the registry) or a
clean close; anything else is counted in ``bad`` with a sample. Scripts are drawn with a fixed
seed, so a run is reproducible. Only the Unix sockets are used.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import trio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bench.fuzz_frames import FATAL_KINDS, Frame, Script, agent_scripts, ctl_scripts, mutate
from cloudclaude.errors import codes

REPO = Path(__file__).resolve().parents[1]
REPLY_TIMEOUT_S = 30.0
SLOW_BYTES = 120  # a slow sender dribbles this much of each frame, 3 bytes per millisecond
MAX_REPLY = 16 * 1024 * 1024
RSS_BOUND_MB = 24.0
SEED = 19
MUTANTS = 3  # byte-level mutants sent after each Hypothesis-drawn script


@attrs.define
class Stats:
    frames: Counter[str] = attrs.field(factory=Counter)
    answers: Counter[str] = attrs.field(factory=Counter)
    connections: int = 0
    closes: int = 0
    resets: int = 0
    bad: int = 0
    samples: list[str] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        return sum(n for kind, n in self.frames.items() if kind != "slow")

    def fail(self, what: str) -> None:
        self.bad += 1
        if len(self.samples) < 20:
            self.samples.append(what[:400])


def _known(code: Any) -> bool:
    try:
        codes.by_code(code)
    except (KeyError, LookupError, TypeError):
        return False
    return True


def _send(sock: socket.socket, data: bytes, slow: bool) -> None:
    if slow:
        for start in range(0, min(len(data), SLOW_BYTES), 3):
            sock.sendall(data[start : start + 3])
            time.sleep(0.001)
        data = data[SLOW_BYTES:]
    sock.sendall(data)


def _drain(sock: socket.socket, received: bytearray) -> None:
    """Read what has arrived so far, so a chatty server never blocks on a full buffer."""
    while select.select([sock], [], [], 0)[0]:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # after an answer and a close with our bytes unread
            return
        if not chunk:
            return
        received += chunk


def _exchange(path: str, script: Script, stats: Stats) -> tuple[bytes, str]:
    """Send ``script`` on one connection; (every byte received, how it ended)."""
    received = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REPLY_TIMEOUT_S)
        sock.connect(path)
        try:
            for frame in script.frames:
                _send(sock, frame.data, script.slow)
                _drain(sock, received)
            sock.shutdown(socket.SHUT_WR)
            while len(received) <= MAX_REPLY:
                chunk = sock.recv(65536)
                if not chunk:
                    return bytes(received), "close"
                received += chunk
            return bytes(received), "flood"
        except (ConnectionResetError, BrokenPipeError):
            _drain(sock, received)
            return bytes(received), "reset"
        except TimeoutError:
            return bytes(received), "hang"


def _replies(data: bytes) -> list[Any]:
    replies, offset = [], 0
    while offset + 4 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        body = data[offset + 4 : offset + 4 + length]
        if len(body) < length:
            raise ValueError(f"reply cut after {len(body)} of {length} bytes")
        replies.append(json.loads(body))
        offset += 4 + length
    if offset != len(data):
        raise ValueError("trailing bytes after the last reply")
    return replies


def _expected_id(frame: Frame) -> int | None:
    try:
        obj = json.loads(frame.body) if frame.body is not None else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(obj, dict) and type(obj.get("id")) is int:
        return int(obj["id"])
    return None


def _check_agent(script: Script, replies: list[Any], stats: Stats) -> str | None:
    finals = [r for r in replies if not (isinstance(r, dict) and r.get("op") == "progress")]
    if not all(isinstance(r, dict) and "op" in r for r in finals):
        return "a reply that is not a message"
    first, *rest = script.frames
    if first.kind != "hello":
        want = "SYSTEM_012" if first.kind == "wrong_version" else "SYSTEM_008"
        got = [r.get("code") for r in finals]
        return None if got == [want] else f"hello {first.kind}: want [{want}], got {got}"
    if not finals or finals[0]["op"] != "hello.reply":
        return f"no hello.reply: {finals[:1]}"
    expected = Counter(_expected_id(f) for f in rest)
    answered = Counter(r.get("id") for r in finals[1:])
    if rest and rest[-1].kind in FATAL_KINDS and not answered - expected and answered[None]:
        # A broken frame ends the connection: requests still running are cancelled with it.
        stats.answers["(cut by the close)"] += (expected - answered).total()
        return None
    if expected != answered:
        return f"ids sent {dict(expected)} != ids answered {dict(answered)}"
    return None


def _check_ctl(script: Script, replies: list[Any]) -> str | None:
    if script.frames[0].kind == "empty":
        return None if not replies else f"answered an empty connection: {replies[:1]}"
    if not replies:
        return f"no answer to a {script.frames[0].kind} frame"
    if not all(isinstance(r, dict) and r.get("kind") in ("ok", "error", "event") for r in replies):
        return f"a reply that is not a ctl reply: {replies[:2]}"
    if replies[-1]["kind"] == "event":
        return "the last reply is an event"
    return None


def _count_answers(target: str, replies: list[Any], stats: Stats) -> str | None:
    for reply in replies:
        if not isinstance(reply, dict):
            continue
        if target == "agent":
            error = reply if reply.get("op") == "error" else None
            label = str(reply.get("op"))
        else:
            error = reply.get("error") if reply.get("kind") == "error" else None
            label = str(reply.get("kind"))
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            if not _known(code):
                return f"an error without a registry code: {reply}"
            label = str(code)
        stats.answers[label] += 1
    return None


def run_script(target: str, path: str, script: Script, stats: Stats) -> None:
    for frame in script.frames:
        stats.frames[frame.kind] += 1
        stats.frames["slow"] += script.slow
    stats.connections += 1
    data, ending = _exchange(path, script, stats)
    stats.closes += ending == "close"
    stats.resets += ending == "reset"
    kinds = [f.kind for f in script.frames]
    if ending in ("hang", "flood"):
        stats.fail(f"{ending} on {kinds}")
        return
    try:
        replies = _replies(data)
    except ValueError as exc:
        stats.fail(f"unreadable replies on {kinds}: {exc}")
        return
    check = (
        _check_agent(script, replies, stats) if target == "agent" else _check_ctl(script, replies)
    )
    problem = check or _count_answers(target, replies, stats)
    if problem:
        stats.fail(f"{problem} (frames {kinds}, ended by {ending})")


def fuzz(target: str, path: str, frames: int, base_seed: int = SEED) -> Stats:
    """Send ``frames`` frames in Hypothesis-drawn scripts, seeded, so runs repeat."""
    # Several scripts per example: Hypothesis's cost per example is then shared.
    scripts = agent_scripts() if target == "agent" else ctl_scripts()
    strategy = st.lists(scripts, min_size=1, max_size=4 if target == "agent" else 8)
    stats = Stats()
    for round_ in range(10_000):
        if stats.total >= frames:
            break

        @seed(base_seed * 10_000 + round_)
        @settings(
            max_examples=500,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def one(batch: list[Script]) -> None:
            rng = random.Random(f"{base_seed}/{stats.total}")
            for drawn in batch:
                for script in [drawn] + [mutate(target, drawn, rng) for _ in range(MUTANTS)]:
                    left = frames - stats.total
                    if left > 0:
                        cut = attrs.evolve(script, frames=script.frames[:left])
                        run_script(target, path, cut, stats)

        one()
    return stats


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _client(target: str, path: Path, frames: int, run_seed: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.fuzz_sockets", "client", target, str(path), str(frames)]
    done = await trio.run_process(
        [*argv, "--seed", str(run_seed)], cwd=REPO, capture_stdout=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def campaign(target: str, path: Path, pid: int, frames: int) -> dict[str, Any]:
    """A tenth of ``frames`` to warm up, then the rest between two RSS readings of ``pid``."""
    warm = max(frames // 10, 50)
    first = await _client(target, path, warm, SEED + 1)
    before = rss_mb(pid)
    main = await _client(target, path, frames - warm, SEED)
    after = rss_mb(pid)
    merged = {key: dict(Counter(first[key]) + Counter(main[key])) for key in ("frames", "answers")}
    totals = {key: first[key] + main[key] for key in ("connections", "closes", "resets", "bad")}
    return {**merged, **totals, "samples": first["samples"] + main["samples"]} | {
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
    }


def report(target: str, figures: dict[str, Any], seconds: float) -> None:
    sent = sum(n for kind, n in figures["frames"].items() if kind != "slow")
    print(
        f"\n== {target} socket: {sent} frames in {figures['connections']} connections,"
        f" {seconds:.1f} s"
    )
    print("frames per kind: " + ", ".join(f"{k}={v}" for k, v in sorted(figures["frames"].items())))
    print(
        "answers per code: " + ", ".join(f"{k}={v}" for k, v in sorted(figures["answers"].items()))
    )
    print(f"closes={figures['closes']} resets={figures['resets']} bad={figures['bad']}")
    growth = figures["rss_after_mb"] - figures["rss_before_mb"]
    print(
        f"RSS before {figures['rss_before_mb']} MB, after {figures['rss_after_mb']} MB,"
        f" growth {growth:+.1f} MB (bound {RSS_BOUND_MB} MB)"
    )
    for sample in figures["samples"]:
        print(f"  bad: {sample}")


def full_run(frames: int) -> int:
    """``make fuzz``: a real agent process and a real daemon, half the frames each."""
    from bench.api import VENV_BIN, daemon, free_port, private_cluster, scratch_dir
    from tests.integration.processes import stop

    results: dict[str, dict[str, Any]] = {}
    with scratch_dir() as root:
        agent_path = root / "agent.sock"
        argv = [str(VENV_BIN / "cloudclaude-agent"), "--socket", str(agent_path)]
        agent = subprocess.Popen([*argv, "--socket-mode", "0777"], stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                if agent_path.exists() or agent.poll() is not None:
                    break
                time.sleep(0.1)
            start = time.monotonic()
            results["agent"] = trio.run(campaign, "agent", agent_path, agent.pid, frames // 2)
            results["agent"]["alive"] = agent.poll() is None
            results["agent"]["seconds"] = time.monotonic() - start
        finally:
            stop(agent)
        with private_cluster(root) as cluster, daemon(cluster, root, free_port()) as proc:
            start = time.monotonic()
            ctl_path = root / "ctl.sock"
            results["ctl"] = trio.run(campaign, "ctl", ctl_path, proc.pid, frames - frames // 2)
            results["ctl"]["alive"] = proc.poll() is None
            results["ctl"]["seconds"] = time.monotonic() - start
    ok = True
    for target, figures in results.items():
        report(target, figures, figures["seconds"])
        growth = figures["rss_after_mb"] - figures["rss_before_mb"]
        print(f"process alive after the run: {figures['alive']}")
        ok = ok and figures["alive"] and not figures["bad"] and growth <= RSS_BOUND_MB
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    client = sub.add_parser("client", help="send frames to one socket, print figures as JSON")
    client.add_argument("target", choices=("agent", "ctl"))
    client.add_argument("socket")
    client.add_argument("frames", type=int)
    client.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    if args.command == "client":
        stats = fuzz(args.target, args.socket, args.frames, args.seed)
        print(json.dumps(attrs.asdict(stats)))
        return 0
    return full_run(args.frames)


if __name__ == "__main__":
    sys.exit(main())
