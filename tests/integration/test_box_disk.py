"""A box's whole disk is bounded by ``disk_gb``: home and system files share one image.

Real dockerd, the real box image. Sizes are asserted, never times: as root in a 1 GB box a
``dd`` into ``/usr`` stops with ENOSPC near the image's size, the home counts against the same
bound, the host's free space drops by no more, other boxes keep working, and the bound and the
files survive a restart, a host reboot and a rebuild. A purge leaves no mount, loop device or
image, even with a mount namespace copied from the host's (as sing-box's is) still alive.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import trio

from agent.ops.mounts import Mount, deepest_first, loop_devices, read_mounts
from agent.ops.names import container_name
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes
from tests.integration.box_exec import BoxExec, exec_in_host
from tests.integration.test_boxes import started, wait_for_sshd

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2test test"
MIB = 1024 * 1024
GIB = 1024 * MIB
#: What a 1 GB ext4 image leaves for files (journal and metadata take the rest).
USABLE_MIN = 850 * MIB


async def start_box(agent: Agent, host_id: str, disk_gb: int = 1) -> None:
    await started(agent, host_id, disk_gb=disk_gb)


async def wait_booted(agent: Agent, host_id: str) -> None:
    """Until sshd answers: box-init has prepared the home by then."""
    await wait_for_sshd(agent, host_id)


async def sh(host_id: str, script: str, user: str = "0") -> BoxExec:
    return await exec_in_host(host_id, ["sh", "-c", script], user=user)


async def fill(host_id: str, path: str, mib: int, user: str = "0") -> int:
    """``dd`` of ``mib`` MiB into ``path`` in the box; the bytes it holds afterwards."""
    await sh(host_id, f"dd if=/dev/zero of={path} bs=1M count={mib}", user=user)
    return await size_of(host_id, path)


async def size_of(host_id: str, path: str) -> int:
    result = await sh(host_id, f"stat -c %s {path}")
    assert result.exit_code == 0, result
    return int(result.stdout)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def image_of(state: Path, host_id: str) -> Path:
    return state / "volumes" / f"{host_id}.ext4"


def mounts_of(state: Path, host_id: str) -> list[Mount]:
    """Every mount of the host's image, or on one of its paths."""
    devices = set(loop_devices(image_of(state, host_id)))
    volumes = state / "volumes"
    paths = {str(volumes / host_id), str(volumes / f"{host_id}.disk")}
    return [mount for mount in read_mounts() if mount.device in devices or mount.point in paths]


def layer_dir(host_id: str) -> Path:
    info = boxes.docker_api("GET", f"/containers/{container_name(host_id)}/json").json()
    return Path(info["GraphDriver"]["Data"]["UpperDir"]).parent


async def test_home_and_system_files_together_stop_at_disk_gb(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    host_id, other = new_host(), new_host()
    free_before = free_bytes(boxes_state)
    await start_box(box_agent, host_id)

    home = await fill(host_id, "/home/claude/part", 300, user="claude")
    assert home == 300 * MIB
    full = await sh(host_id, "dd if=/dev/zero of=/usr/bigfile bs=1M count=2000")
    assert full.exit_code != 0 and "No space left on device" in full.stderr
    system = await size_of(host_id, "/usr/bigfile")
    assert USABLE_MIN < home + system <= GIB  # one bound for both
    more = await sh(host_id, "dd if=/dev/zero of=/home/claude/more bs=1M count=10", "claude")
    assert more.exit_code != 0 and "No space left on device" in more.stderr
    assert free_before - free_bytes(boxes_state) < GIB + 256 * MIB  # not the 2 GB asked

    await start_box(box_agent, other)  # the full box harms no one else
    wrote = await sh(other, "dd if=/dev/zero of=/usr/f bs=1M count=50 && echo ok > ~claude/f")
    assert wrote.exit_code == 0, wrote
    assert (await box_agent.ping()).agent_version


async def test_the_bound_and_the_files_survive_a_restart_and_a_host_reboot(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    host_id = new_host()
    await start_box(box_agent, host_id)
    await sh(host_id, "echo kept > /home/claude/note", user="claude")
    first = await fill(host_id, "/usr/bigfile", 2000)
    assert USABLE_MIN < first <= GIB

    await box_agent.stop_host(host_id, grace_s=0)
    await box_agent.start_host(host_id)
    await wait_booted(box_agent, host_id)
    assert await size_of(host_id, "/usr/bigfile") == first
    await sh(host_id, "rm /usr/bigfile")
    assert abs(await fill(host_id, "/usr/bigfile", 2000) - first) < 32 * MIB

    # A host reboot: the box stops and every mount is gone, dockerd's layer dir left empty.
    await box_agent.stop_host(host_id, grace_s=0)
    layer = layer_dir(host_id)
    for mount in deepest_first(mounts_of(boxes_state, host_id)):
        subprocess.run(["umount", mount.point], check=True)
    assert not mounts_of(boxes_state, host_id)
    assert not loop_devices(image_of(boxes_state, host_id))
    assert os.listdir(layer) == []  # the layer lives only on the image
    await box_agent.start_host(host_id)
    await wait_booted(box_agent, host_id)
    assert abs(await size_of(host_id, "/usr/bigfile") - first) < 32 * MIB
    assert (await sh(host_id, "cat /home/claude/note")).stdout == "kept\n"
    again = await sh(host_id, "dd if=/dev/zero of=/usr/more bs=1M count=100")
    assert "No space left on device" in again.stderr
    assert await size_of(host_id, "/usr/more") < 32 * MIB


async def test_a_rebuild_keeps_the_home_and_starts_from_a_fresh_system(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    host_id = new_host()
    await start_box(box_agent, host_id)
    await sh(host_id, "echo kept > /home/claude/note", user="claude")
    await fill(host_id, "/usr/bigfile", 600)
    old_layer = layer_dir(host_id)

    await box_agent.remove_host(host_id, purge=False)
    assert not mounts_of(boxes_state, host_id)  # nothing mounted, no loop device
    assert image_of(boxes_state, host_id).is_file()
    await start_box(box_agent, host_id)

    new_layer = layer_dir(host_id)
    assert new_layer != old_layer
    assert (await sh(host_id, "cat /home/claude/note")).stdout == "kept\n"
    assert (await sh(host_id, "test -e /usr/bigfile")).exit_code != 0
    disk = boxes_state / "volumes" / f"{host_id}.disk"
    assert os.listdir(disk / "layer") == [new_layer.name]  # the old layer's space is back
    free = await sh(host_id, "df --output=avail -B1 / | tail -1")
    assert int(free.stdout) > USABLE_MIN - 64 * MIB


async def test_a_purge_leaves_no_mount_loop_device_or_image(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    host_id = new_host()
    await start_box(box_agent, host_id)
    image, layer = image_of(boxes_state, host_id), layer_dir(host_id)
    assert loop_devices(image) and mounts_of(boxes_state, host_id)
    # A mount namespace copied from the host's now, as sing-box's confinement makes one.
    copy = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "sleep", "600"])
    try:
        await trio.sleep(0.5)
        assert f"{host_id}.disk" in Path(f"/proc/{copy.pid}/mountinfo").read_text()
        assert await box_agent.remove_host(host_id, purge=True)
        assert not image.exists()
        assert not mounts_of(boxes_state, host_id)
        assert not loop_devices(image)
        assert not any(str(layer) == mount.point for mount in read_mounts())
        volumes = boxes_state / "volumes"
        assert not (volumes / host_id).exists() and not (volumes / f"{host_id}.disk").exists()
        assert host_id not in Path(f"/proc/{copy.pid}/mountinfo").read_text()
    finally:
        copy.kill()
        copy.wait()


async def test_an_existing_home_and_writable_layer_move_onto_the_image(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    """A box made before the bound: the whole image is its home, its layer on the host."""
    host_id = new_host()
    volumes = boxes_state / "volumes"
    image, home = image_of(boxes_state, host_id), volumes / host_id
    volumes.mkdir(mode=0o700, exist_ok=True)
    home.mkdir()
    subprocess.run(["truncate", "-s", "1G", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "home", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop,nodev,nosuid", str(image), str(home)], check=True)
    (home / ".claude").mkdir()
    (home / ".claude" / "note").write_text("kept\n")
    await box_agent.create_host(host_id, m.BoxSpec(authorized_key=KEY, disk_gb=1))
    assert (volumes / f"{host_id}.disk" / "home" / ".claude" / "note").read_text() == "kept\n"

    # Run the container as an older agent did: straight through dockerd, its layer unbounded.
    name = container_name(host_id)
    boxes.docker_api("POST", f"/containers/{name}/start").raise_for_status()
    changes = (
        "dd if=/dev/urandom of=/usr/old-file bs=1M count=100 && rm /usr/bin/wall && "
        "rm -rf /usr/share/doc && mkdir /usr/share/doc && echo x > /usr/share/doc/only"
    )
    assert (await sh(host_id, changes)).exit_code == 0
    boxes.docker_api("POST", f"/containers/{name}/stop", params={"t": "0"}).raise_for_status()
    layer = layer_dir(host_id)
    assert (layer / "diff" / "usr" / "old-file").stat().st_size == 100 * MIB

    await box_agent.start_host(host_id)
    await wait_booted(box_agent, host_id)
    assert await size_of(host_id, "/usr/old-file") == 100 * MIB
    assert (await sh(host_id, "test -e /usr/bin/wall")).exit_code != 0  # whiteout kept
    assert (await sh(host_id, "ls /usr/share/doc")).stdout == "only\n"  # opaque dir kept
    assert (await sh(host_id, "cat ~claude/.claude/note")).stdout == "kept\n"
    on_layer = [mount for mount in read_mounts() if mount.point == str(layer)]
    assert on_layer and on_layer[-1].root == f"/layer/{layer.name}"
    rest = await fill(host_id, "/usr/bigfile", 2000)
    assert rest + 100 * MIB <= GIB


async def test_a_larger_disk_gb_grows_the_image_in_place(
    box_agent: Agent, new_host: Callable[[], str], boxes_state: Path
) -> None:
    host_id = new_host()
    await start_box(box_agent, host_id)
    await sh(host_id, "echo kept > /home/claude/note", user="claude")
    await box_agent.remove_host(host_id, purge=False)
    await start_box(box_agent, host_id, disk_gb=2)
    assert image_of(boxes_state, host_id).stat().st_size == 2 * GIB
    assert (await sh(host_id, "cat /home/claude/note")).stdout == "kept\n"
    size = await sh(host_id, "df --output=size -B1 / | tail -1")
    assert GIB + USABLE_MIN < int(size.stdout) <= 2 * GIB
