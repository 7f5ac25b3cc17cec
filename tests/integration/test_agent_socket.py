"""The agent's socket mode as a real process: hello and ping, peer check, socket activation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from agent import errors
from cloudclaude.agent_client.client import AgentClient
from cloudclaude.agent_client.handle import Agent
from cloudclaude.app.wiring import Services
from cloudclaude.core import health
from tests.integration import pg
from tests.integration.processes import BIN, frame_exchange_as, wait_for


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = pg.scratch_dir("cc-agent-")
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent_socket(sock_dir: Path) -> Iterator[Path]:
    """A running agent whose socket is world-connectable: only the peer check may refuse."""
    path = sock_dir / "agent.sock"
    proc = subprocess.Popen(
        [str(BIN / "cloudclaude-agent"), "--socket", str(path), "--socket-mode", "0777"],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None
        yield path
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert not path.exists()


async def _ping(path: Path) -> str:
    with trio.fail_after(15):  # an agent that does not serve this socket fails, never hangs
        stream = await trio.open_unix_socket(str(path))
        async with AgentClient.connect(stream) as client:
            pong = await client.ping()
            return pong.agent_version


async def test_ping_over_the_real_socket(agent_socket: Path) -> None:
    assert await _ping(agent_socket)


async def test_a_non_allowed_uid_is_refused_by_the_peer_check(agent_socket: Path) -> None:
    hello = {"op": "hello", "protocol_version": 1, "client": "x"}
    reply = await frame_exchange_as("nobody", agent_socket, hello)
    assert reply["op"] == "error"
    assert reply["code"] == errors.PEER_NOT_ALLOWED
    assert "65534" in reply["message"]
    assert await _ping(agent_socket)  # root still gets in


async def test_socket_activation_adopts_the_passed_socket(sock_dir: Path) -> None:
    path = sock_dir / "activated.sock"
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", str(path), str(BIN / "cloudclaude-agent")],
        stderr=subprocess.PIPE,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the activation socket")
        assert proc.poll() is None
        assert await _ping(path)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_health_pings_a_socket_agent_and_reports_one_that_is_down(
    agent_socket: Path, sock_dir: Path
) -> None:
    up = await health.check_agent(Agent("socket", socket=str(agent_socket)))
    assert up["status"] == "ok"
    assert up["version"]
    down = await health.check_agent(Agent("socket", socket=str(sock_dir / "absent.sock")))
    assert down["status"] == "error"
    assert "cannot connect" in down["detail"]
    off = await health.check_agent(Agent("none"))
    assert off["status"] == "not_configured"


async def test_agent_request_latency_is_a_metric(services: Services) -> None:
    await services.agent.ping()
    await services.agent.ping()
    text = services.metrics.render().decode()
    assert 'cloudclaude_agent_request_duration_seconds_count{op="ping"} 2.0' in text


async def test_the_agent_logs_json_lines_with_the_daemons_keys(sock_dir: Path) -> None:
    """Into a pipe (as under systemd) every line is one JSON event, as the daemon writes them."""
    path = sock_dir / "logging.sock"
    proc = subprocess.Popen(
        [str(BIN / "cloudclaude-agent"), "--socket", str(path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the agent socket")
        assert await _ping(path)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert "agent_ready" in [e["event"] for e in events]
    for event in events:
        assert {"event", "level", "timestamp", "component"} <= set(event)
