"""An agent killed in the middle of a call, while a process it forked holds the connection.

Found by the chaos campaign: pyroute2 forks the agent for network-namespace work; a child alive
when the agent was killed -9 kept the daemon's connection open, so the daemon's request never
saw the end of file and its task stayed ``running`` for good. Two guards, each tested here with
real processes:

- the daemon watches the agent process itself (``peer_watch``): a call fails with
  ``SYSTEM_*`` agent-unavailable once the agent has exited, open socket or not;
- the agent's fork children die with it (``agent.forkguard``), and with them its sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentConnectionLost, socket_request_over_unix
from cloudclaude.agent_client.handle import Agent
from cloudclaude.errors import system
from tests.integration import pg
from tests.integration.processes import wait_for

#: An "agent" that answers hello, then forks a child that keeps the connection (and sleeps),
#: and exits without answering the request: the daemon's socket stays open.
FORKING_AGENT = textwrap.dedent(
    """
    import os, socket, sys, time
    from agent.protocol import messages as m
    from agent.protocol.codec import encode
    from agent.protocol.framing import encode_frame
    server = socket.socket(socket.AF_UNIX)
    server.bind(sys.argv[1])
    server.listen()
    print("listening", flush=True)
    while True:
        conn, _ = server.accept()
        conn.recv(65536)  # hello
        reply = m.HelloReply(protocol_version=m.PROTOCOL_VERSION, agent_version="fake")
        conn.sendall(encode_frame(encode(m.converter, reply, m.Message)))
        conn.recv(65536)  # the request
        child = os.fork()
        if child == 0:
            time.sleep(120)  # holds conn (and the listener) like a stuck pyroute2 child
            os._exit(0)
        print(child, flush=True)
        os._exit(0)
    """
)

#: Forks a child that sleeps (with or without the guard), prints its pid, waits to be killed.
FORKING_PARENT = textwrap.dedent(
    """
    import os, sys, time
    from agent import forkguard
    if sys.argv[1] == "guarded":
        forkguard.install()
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = pg.scratch_dir("cc-agent-exit-")
    try:
        yield path
    finally:
        for leftover in path.iterdir():
            leftover.unlink()
        path.rmdir()


@pytest.fixture
def forking_agent(scratch: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    sock = scratch / "agent.sock"
    proc = subprocess.Popen(
        [sys.executable, "-c", FORKING_AGENT, str(sock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
        yield sock, proc
    finally:
        proc.kill()
        proc.wait()
        _kill_child(proc)


def _kill_child(proc: subprocess.Popen[str]) -> None:
    """The forked child, if the fake agent printed its pid."""
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # printed before the fake agent exits, or EOF
    if line.isdigit():
        _kill(int(line))


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_a_call_fails_when_the_agent_exits_though_its_child_holds_the_socket(
    forking_agent: tuple[Path, subprocess.Popen[str]],
) -> None:
    sock, _proc = forking_agent
    agent = Agent("socket", socket=str(sock))
    with trio.fail_after(60), pytest.raises(AgentConnectionLost) as lost:  # a hang fails here
        await agent.ping()
    assert lost.value.code == system.AGENT_UNAVAILABLE.code
    assert "agent process exited" in lost.value.message


async def test_a_socket_call_fails_the_same_way(
    forking_agent: tuple[Path, subprocess.Popen[str]],
) -> None:
    sock, _proc = forking_agent
    with trio.fail_after(60), pytest.raises(AgentConnectionLost) as lost:
        await socket_request_over_unix(str(sock), m.OpenPort(id=0, host_id="h", port=22))
    assert "agent process exited" in lost.value.message


@pytest.mark.parametrize("mode", ["guarded", "unguarded"])
def test_a_fork_of_the_agent_dies_with_it_only_when_guarded(mode: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", FORKING_PARENT, mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline().split()[0])
    try:
        assert _alive(child)
        proc.kill()  # kill -9, as the chaos campaign does
        proc.wait()
        if mode == "guarded":
            wait_for(lambda: not _alive(child), 30, "the guarded child to die with its parent")
        else:  # the control: without the guard the child (and what it holds) lives on
            assert _alive(child)
    finally:
        _kill(child)
