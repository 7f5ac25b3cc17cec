"""Fuzzing the sockets (issue 19): 10,000 Hypothesis-drawn frames, half to each socket.

A real ``cloudclaude-agent`` on a scratch socket, and the daemon's real ``CtlServer`` (served in
this process, over the test's Postgres). The sender is ``bench.fuzz_sockets`` in its own process
with a fixed seed; ``make fuzz`` runs the same campaign with 10^5 frames. Every frame gets a
coded answer or a clean close, the serving process lives on, and its RSS stays within a bound.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.fuzz_sockets import RSS_BOUND_MB, campaign
from cloudclaude.ctl import messages as cm
from cloudclaude.ctl.server import CtlServer
from tests.integration import pg
from tests.integration.processes import BIN, wait_for

FRAMES = 5_000  # per socket


@pytest.fixture
def fuzzed_agent() -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    sock_dir = pg.scratch_dir("cc-fuzz-")
    sock_dir.chmod(0o777)
    path = sock_dir / "agent.sock"
    proc = subprocess.Popen(
        [str(BIN / "cloudclaude-agent"), "--socket", str(path), "--socket-mode", "0777"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None
        yield path, proc
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        shutil.rmtree(sock_dir, ignore_errors=True)


def _check(figures: dict[str, object]) -> None:
    assert figures["bad"] == 0, figures["samples"]
    frames = figures["frames"]
    assert isinstance(frames, dict)
    assert sum(n for kind, n in frames.items() if kind != "slow") == FRAMES
    assert {"truncated", "oversized", "wrong_types", "unknown_op", "not_json"} <= set(frames)
    before, after = figures["rss_before_mb"], figures["rss_after_mb"]
    assert isinstance(before, float) and isinstance(after, float)
    assert after - before <= RSS_BOUND_MB, figures


async def test_the_agent_socket_answers_every_fuzzed_frame(
    fuzzed_agent: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    path, proc = fuzzed_agent
    figures = await campaign("agent", path, proc.pid, FRAMES)
    assert proc.poll() is None
    print(figures)
    _check(figures)
    frames = figures["frames"]
    assert frames.get("interleaved") and frames.get("slow") and frames.get("wrong_version")


async def test_the_ctl_socket_answers_every_fuzzed_frame(ctl: CtlServer) -> None:
    figures = await campaign("ctl", ctl.path, os.getpid(), FRAMES)
    print(figures)
    _check(figures)
    assert figures["frames"].get("after_request") and figures["frames"].get("empty")


@pytest.mark.parametrize("text", ["a\\u0000b", "a\\udbfcb"])
def test_a_ctl_string_postgres_cannot_store_is_refused_at_the_edge(text: str) -> None:
    """Found by this fuzzing: such a host name reached SQL and came back as SYSTEM_001."""
    body = ('{"op": "hosts.show", "host": "' + text + '"}').encode()
    with pytest.raises(cm.ProtocolError, match="NUL or a lone surrogate"):
        cm.decode_request(body)
