"""``bench/mount.py`` on a real box with small numbers: the figures it reports are of the right
work (every file read in the box is the laptop's, ``git status`` agrees with the laptop's own),
and it leaves no mount, sshfs or server thread behind. Never a wall-clock threshold."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import mount
from cloudclaude.agent_client.handle import Agent
from tests.integration.box_exec import exec_in_host
from tests.integration.test_boxes import started

FILES = 50


async def test_the_bench_reads_the_laptops_files_over_the_mount_and_on_disk(
    box_agent: Agent,
    new_host: Callable[[], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    laptop = mount.make_checkout(tmp_path / "proj", FILES)
    on_laptop = {
        f"./{path.relative_to(laptop.root)}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in laptop.root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(laptop.root).parts
    }
    assert len(on_laptop) == FILES
    assert laptop.hashes == on_laptop
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=laptop.root, capture_output=True, text=True
    ).stdout.splitlines()
    assert any(line.startswith(" M ") for line in status)  # git status has work to do
    assert any(line.startswith("?? ") for line in status)

    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    results = await mount.measure(box_agent, host_id, laptop, repeat=1)

    assert (results.files, results.repeat) == (FILES, 1)
    for place in mount.PLACES:
        assert set(results.samples[place]) == set(mount.STEPS)
        assert all(len(values) == 1 and values[0] > 0 for values in results.samples[place].values())
        assert results.seen[place] == on_laptop, place  # each file, its content, nothing more
        assert sorted(results.status[place]) == sorted(status), place

    # The copy on disk is the box's own; the mount is gone, and with it sshfs and our server.
    mounts = await exec_in_host(host_id, ["grep", "-c", "cloudclaude-checkout", "/proc/mounts"])
    assert mounts.stdout.strip() == "0", mounts
    disk = await exec_in_host(host_id, ["stat", "-c", "%U", mount.PATHS["disk"]])
    assert disk.stdout.strip() == mount.BOX_USER
    assert not [t for t in threading.enumerate() if t.name == "bench-mount-sftp"]

    mount.report(results)
    table = capsys.readouterr().out
    assert "mount ÷ disk" in table
    for label in mount.LABELS.values():
        assert label in table
