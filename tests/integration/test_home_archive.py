"""A host's home out to and back in from a socket the caller passes (the backup's agent side).

Real dockerd, the real box image, the agent embedded and as its own process on a Unix socket
(the socket then travels with the request frame by SCM_RIGHTS). Asserted: the tar holds the
home's files with their owners and links stored as links; a running box is frozen for the
export and runs again after it; an import fills only a new host's empty home, whose box then
boots with the files; a request without its socket, or an import over a host that exists, is
refused with a registry code.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from agent import errors
from agent.config import config_flags
from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes, pg
from tests.integration.box_exec import exec_in_host
from tests.integration.processes import BIN, wait_for
from tests.integration.test_boxes import started


async def export_bytes(agent: Agent, host_id: str) -> tuple[bytes, bool]:
    """The home's tar as the agent writes it, read here concurrently."""
    ours, theirs = socket.socketpair()
    received = bytearray()
    frozen: list[bool] = []

    async def export() -> None:
        with theirs:
            frozen.append(await agent.export_home(host_id, theirs))
        # Socket mode passed a copy; ours sees EOF once the agent's copy closes too.

    async def read() -> None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        async with stream:
            while chunk := await stream.receive_some(1 << 16):
                received.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        nursery.start_soon(export)
    return bytes(received), frozen[0]


async def import_bytes(agent: Agent, host_id: str, data: bytes, disk_gb: int = 1) -> None:
    ours, theirs = socket.socketpair()

    refused: list[AgentError] = []

    async def write() -> None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError):  # refused: nobody reads
                await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        with theirs:
            try:
                await agent.import_home(host_id, disk_gb, theirs)
            except AgentError as exc:
                refused.append(exc)
    if refused:
        raise refused[0]


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {info.name.removeprefix("./"): info for info in tar.getmembers()}


async def test_a_home_goes_out_and_into_a_new_host(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    source = new_host()
    await started(box_agent, source, disk_gb=1)
    made = await exec_in_host(
        source,
        ["sh", "-c", "echo kept > ~/note && chmod 600 ~/note && ln -s /etc/shadow ~/link"],
        user="claude",
    )
    assert made.exit_code == 0, made

    data, frozen = await export_bytes(box_agent, source)
    assert frozen is True  # it was running: frozen while read
    inside = members(data)
    assert inside["note"].isfile() and inside["note"].mode & 0o777 == 0o600
    assert inside["link"].issym() and inside["link"].linkname == "/etc/shadow"
    owner = (await exec_in_host(source, ["id", "-u", "claude"])).stdout.strip()
    assert str(inside["note"].uid) == owner
    state = await box_agent.inspect_host(source)
    assert state.running  # thawed again
    assert (await exec_in_host(source, ["true"])).exit_code == 0

    target = new_host()
    await import_bytes(box_agent, target, data)
    await started(box_agent, target, disk_gb=1)
    note = await exec_in_host(target, ["sh", "-c", "stat -c %a:%u ~/note; cat ~/note"], "claude")
    assert note.stdout.split() == [f"600:{owner}", "kept"], note

    # The target now has a container and a home with files: never imported over.
    with pytest.raises(AgentError) as refused:
        await import_bytes(box_agent, target, data)
    assert refused.value.code == errors.HOME_NOT_EMPTY


async def test_a_stopped_host_is_exported_without_freezing(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    assert (await exec_in_host(host_id, ["sh", "-c", "echo x > ~/f"], "claude")).exit_code == 0
    await box_agent.stop_host(host_id)
    data, frozen = await export_bytes(box_agent, host_id)
    assert frozen is False and "f" in members(data)
    assert not (await box_agent.inspect_host(host_id)).running


@pytest.fixture
def socket_agent(boxes_state: Path, box_image: str) -> Iterator[Agent]:
    """The agent as its own process on a Unix socket, on the test boxes' state."""
    sock_dir = pg.scratch_dir("cc-agent-")
    path = sock_dir / "agent.sock"
    flags = config_flags(boxes.agent_config(boxes_state))
    proc = subprocess.Popen(
        [str(BIN / "cloudclaude-agent"), f"--socket={path}", *flags], stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None
        yield Agent("socket", socket=str(path))
    finally:
        proc.terminate()
        proc.wait(20)
        subprocess.run(["rm", "-rf", str(sock_dir)], check=False)


async def test_the_socket_travels_with_the_frame_to_a_separate_agent(
    box_agent: Agent, socket_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    assert (await exec_in_host(host_id, ["sh", "-c", "echo s > ~/s"], "claude")).exit_code == 0
    data, frozen = await export_bytes(socket_agent, host_id)
    assert frozen is True and "s" in members(data)

    # The same request without a socket is refused by the agent, which stays up.
    with pytest.raises(AgentError) as refused:
        await socket_agent.request(m.ExportHome(id=0, host_id=host_id))
    assert refused.value.code == errors.PROTOCOL_ERROR
    assert (await socket_agent.ping()).agent_version
