"""Admin-declared extra mounts: from ``cloudclaude-agent --extra-mount`` flags into every box.

The wire cannot name a host path any more; the agent's own config is the only way a host
directory reaches a box, read-only unless declared ``rw``. A declaration that would hand boxes
the host, or names a missing directory, stops the agent at start (exit 2, ``config_invalid``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import errors
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes, pg
from tests.integration.box_exec import exec_in_host
from tests.integration.processes import BIN, wait_for
from tests.integration.test_boxes import KEY, wait_for_sshd


@pytest.fixture
def shared() -> Iterator[tuple[Path, Path]]:
    scratch = pg.scratch_dir("cc-extra-")
    (scratch / "shared").mkdir()
    (scratch / "shared" / "note").write_text("from the host\n")
    (scratch / "shared" / "etc-link").symlink_to("/etc")
    (scratch / "scratch").mkdir(mode=0o777)
    (scratch / "scratch").chmod(0o777)
    yield scratch / "shared", scratch / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def mounting_agent(boxes_state: Path, box_image: str, shared: tuple[Path, Path]) -> Iterator[Path]:
    """A socket-mode agent with one read-only and one writable extra mount."""
    read_only, writable = shared
    sock = read_only.parent / "agent.sock"
    argv = [
        str(BIN / "cloudclaude-agent"),
        f"--socket={sock}",
        f"--state-dir={boxes_state}",
        f"--instance={boxes.agent_config(boxes_state).instance}",
        f"--egress-pool={boxes.EGRESS_POOL}",
        f"--extra-mount={read_only}:/shared",
        f"--extra-mount={writable}:/scratch:rw",
    ]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None
        yield sock
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


async def test_declared_mounts_reach_the_box_read_only_unless_rw(
    mounting_agent: Path, shared: tuple[Path, Path]
) -> None:
    agent = Agent("socket", socket=str(mounting_agent))
    host_id = boxes.new_host_id()
    try:
        await agent.create_host(host_id, m.BoxSpec(authorized_key=KEY, disk_gb=1))
        await agent.start_host(host_id)
        await wait_for_sshd(agent, host_id)
        note = await exec_in_host(host_id, ["cat", "/shared/note"], user="claude")
        assert note.stdout == "from the host\n", note
        refused = await exec_in_host(host_id, ["touch", "/shared/x"], user="root")
        assert refused.exit_code != 0 and "Read-only" in refused.stderr, refused
        wrote = await exec_in_host(host_id, ["touch", "/scratch/made-in-box"], user="claude")
        assert wrote.exit_code == 0, wrote
        assert (shared[1] / "made-in-box").exists()
        assert not (shared[0] / "x").exists()
    finally:
        await agent.remove_host(host_id, purge=True)


@pytest.mark.parametrize(
    "declaration",
    [
        "/:/host",
        "/etc:/host-etc",
        "/var/run/docker.sock:/docker.sock",
        "relative:/x",
        "/tmp/cc-extra-absent-dir:/x",
        "{shared}:/home/claude",
        "{shared}:/etc",
        "{shared}/../../etc:/x",
        "{shared}/etc-link:/x",  # a link into a forbidden tree
        "{shared}:/x:rwx",
    ],
)
def test_a_dangerous_or_broken_declaration_stops_the_agent_at_start(
    declaration: str, shared: tuple[Path, Path]
) -> None:
    sock = shared[0].parent / "never.sock"
    done = subprocess.run(
        [
            str(BIN / "cloudclaude-agent"),
            f"--socket={sock}",
            f"--state-dir={shared[0].parent / 'state'}",
            f"--extra-mount={declaration.format(shared=shared[0])}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert errors.CONFIG_INVALID in done.stderr
    assert not sock.exists()
