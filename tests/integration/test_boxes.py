"""Boxes on a real dockerd from the real image: lifecycle, OpenPort, persistence, limits."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from agent import errors
from agent.protocol import messages as m
from agent.runtime import open_runtime
from cloudclaude.agent_client.client import AgentError, embedded
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes, pg
from tests.integration.box_exec import BoxExec, exec_in_host
from tests.integration.processes import BIN, wait_for

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2test test"
HOST_KEY = "cat /home/claude/.cloudclaude/hostkeys/ssh_host_ed25519_key.pub"


async def started(agent: Agent, host_id: str, **spec: Any) -> None:
    spec.setdefault("authorized_key", KEY)
    await agent.create_host(host_id, m.BoxSpec(**spec))
    await agent.start_host(host_id)
    await wait_for_sshd(agent, host_id)


async def wait_for_sshd(agent: Agent, host_id: str) -> bytes:
    with trio.fail_after(60):
        while True:
            try:
                sock = await agent.open_port(host_id, 22)
            except AgentError as exc:
                if exc.code != errors.PORT_UNREACHABLE:
                    raise
                await trio.sleep(0.05)
                continue
            return await trio.to_thread.run_sync(boxes.read_banner, sock)


async def run(_agent: Agent, host_id: str, script: str, user: str = "claude") -> BoxExec:
    """``sh -c script`` in the box, through dockerd (the agent has no exec; see box_exec).

    Takes the agent only so the many callers read as before.
    """
    return await exec_in_host(host_id, ["sh", "-c", script], user=user)


async def test_lifecycle_with_open_port(box_agent: Agent, new_host: Callable[[], str]) -> None:
    host_id = new_host()
    state = await box_agent.create_host(host_id, m.BoxSpec(authorized_key=KEY, disk_gb=1))
    assert state.exists and not state.running
    again = await box_agent.create_host(host_id, m.BoxSpec(authorized_key=KEY, disk_gb=1))
    assert again.container_id == state.container_id  # create-if-absent

    assert (await box_agent.start_host(host_id)).running
    assert (await wait_for_sshd(box_agent, host_id)).startswith(b"SSH-2.0-OpenSSH")
    assert not (await box_agent.stop_host(host_id, grace_s=2)).running
    assert not (await box_agent.stop_host(host_id, grace_s=2)).running  # stop-if-running
    with pytest.raises(AgentError) as stopped:
        await box_agent.open_port(host_id, 22)
    assert stopped.value.code == errors.HOST_NOT_RUNNING

    await box_agent.start_host(host_id)
    assert (await wait_for_sshd(box_agent, host_id)).startswith(b"SSH-2.0-OpenSSH")
    assert await box_agent.remove_host(host_id, purge=True)
    assert not await box_agent.remove_host(host_id, purge=True)  # remove-if-present
    assert not (await box_agent.inspect_host(host_id)).exists
    assert host_id not in (await box_agent.list_hosts()).volumes


async def test_managed_containers_are_listed_by_label(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    first, second = new_host(), new_host()
    for host_id in (first, second):
        await box_agent.create_host(host_id, m.BoxSpec(disk_gb=1))
    listed = await box_agent.list_hosts()
    assert {first, second} <= {h.host_id for h in listed.hosts}
    assert {first, second} <= set(listed.volumes)
    labelled = {c["Labels"]["cloudclaude.host_id"] for c in boxes.test_containers()}
    ours = {h.host_id for h in listed.hosts if h.host_id.startswith("t-")}
    assert ours == {host_id for host_id in labelled if host_id.startswith("t-")}


async def test_unknown_and_malformed_host_ids_get_typed_errors(box_agent: Agent) -> None:
    with pytest.raises(AgentError) as missing:
        await box_agent.start_host(boxes.new_host_id())
    assert missing.value.code == errors.CONTAINER_MISSING
    with pytest.raises(AgentError) as bad:
        await box_agent.inspect_host("../../etc")
    assert bad.value.code == errors.VALIDATION_FAILED
    with pytest.raises(AgentError) as spec:
        await box_agent.create_host(boxes.new_host_id(), m.BoxSpec(pids=1, memory_mb=1))
    assert spec.value.code == errors.VALIDATION_FAILED
    assert "pids" in spec.value.message and "memory_mb" in spec.value.message
    assert (await box_agent.ping()).agent_version  # the agent is still answering


async def test_a_closed_port_is_port_unreachable(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    with pytest.raises(AgentError) as closed:
        await box_agent.open_port(host_id, 2)
    assert closed.value.code == errors.PORT_UNREACHABLE


ROOT_ATTEMPTS = {
    "ip link add": "ip link add cc0 type dummy",
    "ip route add": "ip route add 198.18.0.0/24 dev lo",
    "nft list ruleset": "nft list ruleset",
    "mount tmpfs": "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x",
    "raw socket": "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)'",
    "packet socket": "python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'",
}


async def test_root_in_the_box_cannot_touch_network_firewall_or_mounts(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    whoami = await run(box_agent, host_id, "id -u", user="0")
    assert whoami.stdout.strip() == "0"
    for what, script in ROOT_ATTEMPTS.items():
        result = await run(box_agent, host_id, script, user="0")
        assert result.exit_code != 0, f"{what} succeeded as root in the box: {result.stdout}"
        assert re.search(r"not permitted|denied|Permission", result.stderr, re.I), (
            what,
            result.stderr,
        )
    bounding = await run(box_agent, host_id, "grep CapBnd /proc/self/status", user="0")
    mask = int(bounding.stdout.split()[1], 16)
    forbidden = {"NET_ADMIN": 12, "NET_RAW": 13, "SYS_MODULE": 16, "SYS_PTRACE": 19}
    forbidden["SYS_ADMIN"] = 21
    assert all(not mask & (1 << bit) for bit in forbidden.values()), hex(mask)


async def test_claude_code_and_sudo_work_for_the_box_user(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    identity = await run(box_agent, host_id, "id -u; id -un; echo $HOME", user="claude")
    assert identity.stdout.split() == ["1000", "claude", "/home/claude"]
    version = await run(box_agent, host_id, "claude --version")
    assert version.exit_code == 0 and "Claude Code" in version.stdout, version
    sudo = await run(box_agent, host_id, "sudo -n true && sudo -n id -u")
    assert sudo.exit_code == 0 and sudo.stdout.strip() == "0", sudo


async def test_fork_bomb_is_held_at_the_pids_limit(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    limit = 64
    await started(box_agent, host_id, disk_gb=1, pids=limit)
    bomb = "nohup bash -c 'b(){ b | b & }; b' >/dev/null 2>&1 &"
    await run(box_agent, host_id, bomb)
    peak = 0
    for _ in range(20):
        stats = await box_agent.host_stats(host_id)
        peak = max(peak, stats.pids)
        assert (await box_agent.ping()).agent_version
        await trio.sleep(0.1)
    assert limit - 16 <= peak <= limit  # the bomb ran into the limit and stayed under it
    await box_agent.stop_host(host_id, grace_s=0)


async def test_writing_past_disk_gb_fails_with_enospc(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    result = await run(box_agent, host_id, "dd if=/dev/zero of=$HOME/fill bs=1M count=1100")
    assert result.exit_code != 0
    assert "No space left on device" in result.stderr
    size = await run(box_agent, host_id, "df --output=size -B1M $HOME | tail -1")
    assert int(size.stdout) < 1100


async def test_home_survives_stop_start_and_rebuild(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    await run(box_agent, host_id, "mkdir -p ~/.claude && echo kept > ~/.claude/note")
    key_before = await run(box_agent, host_id, HOST_KEY, user="0")

    await box_agent.stop_host(host_id, grace_s=2)
    await box_agent.start_host(host_id)
    await wait_for_sshd(box_agent, host_id)
    assert (await run(box_agent, host_id, "cat ~/.claude/note")).stdout == "kept\n"

    old = await box_agent.inspect_host(host_id)
    await box_agent.remove_host(host_id, purge=False)  # rebuild: new container, same volume
    await started(box_agent, host_id, disk_gb=1)
    assert (await box_agent.inspect_host(host_id)).container_id != old.container_id
    assert (await run(box_agent, host_id, "cat ~/.claude/note")).stdout == "kept\n"
    key_after = await run(box_agent, host_id, HOST_KEY, user="0")
    assert key_after.stdout == key_before.stdout and key_after.stdout.startswith("ssh-ed25519")


async def test_attach_claude_makes_the_session_and_its_modes(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    # A client on a pty whose input stays open (as an ssh client's would) until killed.
    client = "(sleep 600 | script -qfc '{cmd}' /dev/null >/dev/null 2>&1 &);"
    await run(box_agent, host_id, client.format(cmd="attach-claude") + " sleep 2")
    windows = await run(box_agent, host_id, "tmux list-windows -t =claude -F '#W'")
    assert windows.stdout.split() == ["claude", "shell"]
    assert (await run(box_agent, host_id, "tmux list-clients -t =claude | wc -l")).stdout == "1\n"

    await run(box_agent, host_id, client.format(cmd="attach-claude") + " sleep 2")
    assert (await run(box_agent, host_id, "tmux list-clients -t =claude | wc -l")).stdout == "2\n"
    await run(box_agent, host_id, client.format(cmd="attach-claude --take-over") + " sleep 2")
    assert (await run(box_agent, host_id, "tmux list-clients -t =claude | wc -l")).stdout == "1\n"

    await run(box_agent, host_id, client.format(cmd="attach-claude --new-session") + " sleep 2")
    sessions = await run(box_agent, host_id, "tmux list-sessions -F '#S'")
    assert sorted(sessions.stdout.split()) == ["claude", "claude-2"]
    usage = await run(box_agent, host_id, "attach-claude --bogus")
    assert usage.exit_code == 2 and "usage" in usage.stderr


@pytest.fixture
def agent_process(boxes_state: Path, box_image: str) -> Iterator[Path]:
    """``cloudclaude-agent`` in socket mode on the same dockerd and state directory."""
    sock_dir = pg.scratch_dir("cc-agent-")
    path = sock_dir / "agent.sock"
    proc = subprocess.Popen(
        [str(BIN / "cloudclaude-agent"), "--socket", str(path), "--state-dir", str(boxes_state)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: path.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None
        yield path
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        shutil.rmtree(sock_dir, ignore_errors=True)


async def test_lifecycle_through_the_agent_process(
    agent_process: Path, box_agent: Agent, new_host: Callable[[], str]
) -> None:
    agent = Agent("socket", socket=str(agent_process))
    host_id = new_host()
    await agent.create_host(host_id, m.BoxSpec(authorized_key=KEY, disk_gb=1))
    await agent.start_host(host_id)
    banner = await wait_for_sshd(agent, host_id)  # the socket crossed by SCM_RIGHTS
    assert banner.startswith(b"SSH-2.0-OpenSSH")
    await agent.stop_host(host_id, grace_s=2)
    await agent.start_host(host_id)
    assert (await wait_for_sshd(agent, host_id)).startswith(b"SSH-2.0-OpenSSH")
    assert host_id in {h.host_id for h in (await agent.list_hosts()).hosts}
    assert await agent.remove_host(host_id, purge=True)
    assert not (await agent.inspect_host(host_id)).exists


async def test_a_failed_build_is_reported_and_leaves_no_container(
    boxes_state: Path, box_image: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nRUN echo half-way && false\n")
    config = attrs.evolve(
        boxes.agent_config(boxes_state), image_dir=tmp_path, image_repo="cloudclaude-broken-test"
    )
    before = len(boxes.docker_api("GET", "/containers/json", params={"all": "1"}).json())
    async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
        with pytest.raises(AgentError) as failed:
            await Agent("embedded", client).ensure_image()
        assert (await client.ping()).agent_version
    assert failed.value.code == errors.IMAGE_BUILD_FAILED
    assert "half-way" in failed.value.message
    after = len(boxes.docker_api("GET", "/containers/json", params={"all": "1"}).json())
    assert after == before


async def test_rebuild_is_a_no_op_until_an_input_changes_then_old_tags_go(
    boxes_state: Path, box_image: str, tmp_path: Path
) -> None:
    repo = f"cloudclaude-prune-test-{boxes.new_host_id()}"
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY note /note\n")
    (tmp_path / "note").write_text("one")
    config = attrs.evolve(boxes.agent_config(boxes_state), image_dir=tmp_path, image_repo=repo)
    made = [f"{repo}:latest"]
    try:
        async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
            agent = Agent("embedded", client)
            first = await agent.ensure_image()
            made.append(first.image)
            assert first.built
            again = await agent.ensure_image()
            assert not again.built and again.image == first.image
            (tmp_path / "note").write_text("two")
            second = await agent.ensure_image()
            made.append(second.image)
        assert second.built and second.image != first.image
        assert boxes.docker_api("GET", f"/images/{first.image}/json").status_code == 404
        latest = boxes.docker_api("GET", f"/images/{repo}:latest/json").json()
        assert latest["Id"] == second.image_id
    finally:
        for tag in made:
            boxes.docker_api("DELETE", f"/images/{tag}", params={"force": "1"})


async def test_sshd_admits_only_the_hosts_key_pair(
    box_agent: Agent, new_host: Callable[[], str], tmp_path: Path
) -> None:
    for name in ("host", "other"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)],
            check=True,
        )
    public = (tmp_path / "host.pub").read_text().strip()
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1, authorized_key=public)
    for name in ("host", "other"):
        key = (tmp_path / name).read_text()
        await run(box_agent, host_id, f"umask 077; printf '%s' '{key}' > /tmp/{name}")
    ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    ok = await run(box_agent, host_id, f"{ssh} -i /tmp/host claude@127.0.0.1 id -un")
    assert ok.exit_code == 0 and ok.stdout == "claude\n", ok
    wrong_key = await run(box_agent, host_id, f"{ssh} -i /tmp/other claude@127.0.0.1 true")
    assert wrong_key.exit_code == 255 and "Permission denied" in wrong_key.stderr
    as_root = await run(box_agent, host_id, f"{ssh} -i /tmp/host root@127.0.0.1 true")
    assert as_root.exit_code == 255 and "Permission denied" in as_root.stderr
