"""A laptop's checkout mounted into a running box by the agent (``host.mount_checkout``).

Real dockerd, the real box image, the agent embedded; the "laptop" is OpenSSH's own
``sftp-server`` on one end of a socket pair, rooted in a temporary directory, and the agent gets
the other end. Asserted: the file shows in the box at the asked path with its content, owned by
the box user; a file written in the box lands in the directory on the host; the unmount takes the
mount away and its sshfs ends; sshfs runs unprivileged; when the laptop's side goes, sshfs ends
and a new mount replaces the dead one; the socket also travels by SCM_RIGHTS to a separate agent
process, and removing the host leaves no sshfs; hostile paths are refused with their codes, a
symlink planted by root in the box included, and leave the box's /etc untouched.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from agent import errors
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from tests.integration.box_exec import exec_in_host
from tests.integration.test_boxes import started
from tests.integration.test_home_archive import socket_agent  # noqa: F401 (a fixture)

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
MOUNT = "/home/alice/src/proj"


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The laptop's sftp-servers, killed after the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for server in started:
        server.kill()
        server.wait(10)


@pytest.fixture
def laptop(tmp_path: Path, servers: list[subprocess.Popen[bytes]]) -> Callable[[], socket.socket]:
    """A checkout served by a real sftp-server: each call gives the socket for the agent."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "README").write_text("from the laptop\n")
    (checkout / "docs").mkdir()
    (checkout / "docs" / "readme").symlink_to("../README")  # a checkout's own relative link

    def serve() -> socket.socket:
        ours, theirs = socket.socketpair()
        with ours:
            argv = [SFTP_SERVER, "-d", str(checkout)]
            servers.append(subprocess.Popen(argv, stdin=ours.fileno(), stdout=ours.fileno()))
        return theirs

    return serve


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def gone(pid: int) -> None:
    with trio.fail_after(20):
        while alive(pid):
            await trio.sleep(0.05)


async def mount(agent: Agent, host_id: str, path: str, sock: socket.socket) -> int:
    with sock:
        return await agent.mount_checkout(host_id, path, sock)


async def test_the_checkout_shows_in_the_box_and_writes_come_back(
    box_agent: Agent,
    new_host: Callable[[], str],
    laptop: Callable[[], socket.socket],
    tmp_path: Path,
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    pid = await mount(box_agent, host_id, MOUNT, laptop())
    try:
        made = await exec_in_host(
            host_id, ["stat", "-c", "%U %a", "/home/alice", "/home/alice/src"]
        )
        assert made.stdout.split("\n")[:2] == ["root 755", "root 755"], made
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert "0" not in uids  # sshfs runs without root
        script = (
            f"cat {MOUNT}/README; stat -c %U {MOUNT}/README {MOUNT}; echo box > {MOUNT}/new;"
            f" readlink {MOUNT}/docs/readme; cat {MOUNT}/docs/readme"
        )
        seen = await exec_in_host(host_id, ["sh", "-c", script], user="claude")
        assert seen.exit_code == 0, seen
        assert seen.stdout.split("\n")[:5] == [
            "from the laptop",
            "claude",
            "claude",
            "../README",
            "from the laptop",
        ]
        assert (tmp_path / "checkout" / "new").read_text() == "box\n"

        await box_agent.unmount_checkout(host_id, MOUNT)
        await gone(pid)
        after = await exec_in_host(
            host_id, ["sh", "-c", f"ls -A {MOUNT}; grep -c checkout /proc/self/mountinfo || true"]
        )
        assert after.stdout.split() == ["0"], after  # an empty directory, no mount left
        with pytest.raises(AgentError) as again:
            await box_agent.unmount_checkout(host_id, MOUNT)
        assert again.value.code == errors.NOT_MOUNTED
    finally:
        with trio.CancelScope(shield=True):
            if alive(pid):
                os.kill(pid, 15)
            await box_agent.remove_host(host_id, purge=True)
            await gone(pid)


async def test_a_dropped_stream_ends_sshfs_and_a_new_mount_replaces_the_dead_one(
    box_agent: Agent,
    new_host: Callable[[], str],
    laptop: Callable[[], socket.socket],
    servers: list[subprocess.Popen[bytes]],
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    pids = [await mount(box_agent, host_id, MOUNT, laptop())]
    try:
        servers[0].kill()  # the laptop's side goes away (a dropped connection)
        await gone(pids[0])  # a passive sshfs ends with its stream
        dead = await exec_in_host(host_id, ["cat", f"{MOUNT}/README"], user="claude")
        assert "Transport endpoint is not connected" in dead.stderr, dead

        pids.append(await mount(box_agent, host_id, MOUNT, laptop()))
        seen = await exec_in_host(host_id, ["cat", f"{MOUNT}/README"], user="claude")
        assert seen.stdout == "from the laptop\n", seen
        count = ["grep", "-c", "cloudclaude-checkout", "/proc/self/mountinfo"]
        assert (await exec_in_host(host_id, count)).stdout.strip() == "1"  # replaced, not stacked

        # The proxy's late unmount of the dropped mount must not take the new one down.
        await box_agent.unmount_checkout(host_id, MOUNT, sshfs_pid=pids[0])
        still = await exec_in_host(host_id, ["cat", f"{MOUNT}/README"], user="claude")
        assert still.stdout == "from the laptop\n", still
        assert alive(pids[1])
        await box_agent.unmount_checkout(host_id, MOUNT, sshfs_pid=pids[1])
        await gone(pids[1])
        assert (await exec_in_host(host_id, count)).stdout.strip() == "0"
    finally:
        with trio.CancelScope(shield=True):
            await box_agent.remove_host(host_id, purge=True)
            for pid in pids:
                if alive(pid):
                    os.kill(pid, 15)
                await gone(pid)


@pytest.mark.parametrize(
    "path",
    [
        "home/alice/x",
        "/home/alice/../claude",
        "/home//alice",
        "/home/alice/",
        "/etc",
        "/etc/x",
        "/proc/1",
        "/usr/local/src",
        "/home/claude",
        "/",
        "/tmp/x",
        "/home/a\0b",
        "/home/" + "d/" * 40 + "x",
        "/home/" + "a" * 1100,
    ],
)
async def test_hostile_paths_are_refused_by_name(
    box_agent: Agent, path: str, laptop: Callable[[], socket.socket]
) -> None:
    with pytest.raises(AgentError) as refused:
        await mount(box_agent, "0" * 32, path, laptop())
    assert refused.value.code == errors.MOUNT_PATH_REFUSED, refused.value


async def test_a_symlink_planted_in_the_box_is_not_followed(
    box_agent: Agent, new_host: Callable[[], str], laptop: Callable[[], socket.socket]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    before = await exec_in_host(host_id, ["ls", "-A", "/etc"])
    planted = await exec_in_host(host_id, ["ln", "-s", "/etc", "/home/evil"])
    assert planted.exit_code == 0, planted
    for path in ("/home/evil/x", "/home/evil"):
        with pytest.raises(AgentError) as refused:
            await mount(box_agent, host_id, path, laptop())
        assert refused.value.code == errors.MOUNT_PATH_REFUSED, refused.value
    assert (await exec_in_host(host_id, ["ls", "-A", "/etc"])).stdout == before.stdout
    mounts = await exec_in_host(host_id, ["grep", "-c", "checkout", "/proc/self/mountinfo"])
    assert mounts.stdout.strip() == "0"


async def test_the_socket_travels_to_a_separate_agent(
    box_agent: Agent,
    socket_agent: Agent,  # noqa: F811 (the fixture imported above)
    new_host: Callable[[], str],
    laptop: Callable[[], socket.socket],
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    pid = await mount(socket_agent, host_id, "/home/claude/w/proj", laptop())
    try:
        script = "stat -c %U /home/claude/w; cat /home/claude/w/proj/README"
        seen = await exec_in_host(host_id, ["sh", "-c", script], user="claude")
        assert seen.stdout == "claude\nfrom the laptop\n", seen  # its own dir in its home
        # Removing the host leaves no sshfs behind (the mount went with the box).
        await box_agent.remove_host(host_id, purge=True)
        await gone(pid)
    finally:
        with trio.CancelScope(shield=True):
            if alive(pid):
                os.kill(pid, 15)
