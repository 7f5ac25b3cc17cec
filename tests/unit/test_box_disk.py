"""Pure parts of a box's disk image: mountinfo, the image's layout and its migration, layers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent import errors
from agent.ops import disk_layout
from agent.ops.mounts import (
    CommandFailed,
    deepest_first,
    is_self_bind,
    mount_at,
    parse_mountinfo,
    run,
)

LAYER_ID = "e99361357784b87b74929e48446c25119c485f9b9ba653903acad3cc66d98abb"
MOUNTINFO = f"""\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw
60 27 254:0 /srv/state/volumes /srv/state/volumes rw shared:4 - ext4 /dev/vda rw
61 60 7:3 / /srv/state/volumes/h1.disk rw,nosuid,nodev - ext4 /dev/loop3 rw
62 60 7:3 /home /srv/state/volumes/h1 rw,nosuid,nodev shared:5 - ext4 /dev/loop3 rw
63 42 7:3 /layer/{LAYER_ID} /var/lib/docker/overlay2/{LAYER_ID} rw shared:6 master:2 - ext4 \
/dev/loop3 rw
64 27 8:1 / /mnt/with\\040space rw - ext4 /dev/sda1 rw
"""


def test_mountinfo_lines_become_mounts() -> None:
    mounts = parse_mountinfo(MOUNTINFO + "garbage line\n")
    assert len(mounts) == 7
    layer = mounts[5]
    assert layer.device == "7:3" and layer.root == f"/layer/{LAYER_ID}"
    assert layer.point == f"/var/lib/docker/overlay2/{LAYER_ID}"
    assert layer.shared and layer.source == "/dev/loop3"
    assert not mounts[3].shared  # the image's own mount is private
    assert mounts[6].point == "/mnt/with space"


def test_the_topmost_mount_on_a_path_is_found() -> None:
    stacked = MOUNTINFO + "70 61 7:9 / /srv/state/volumes/h1.disk rw - ext4 /dev/loop9 rw\n"
    mounts = parse_mountinfo(stacked)
    top = mount_at(mounts, Path("/srv/state/volumes/h1.disk"))
    assert top is not None and top.device == "7:9"
    assert mount_at(mounts, Path("/srv/state/volumes/h2")) is None


def test_a_bind_of_a_directory_onto_itself_is_told_from_a_disk_of_its_own() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert is_self_bind(mounts, Path("/srv/state/volumes"))
    assert is_self_bind(mounts, Path("/var/lib/docker"))
    assert not is_self_bind(mounts, Path("/mnt/with space"))  # another filesystem
    assert not is_self_bind(mounts, Path("/srv/state/volumes/h1"))  # a bind of another dir
    assert not is_self_bind(mounts, Path("/srv/state"))  # not a mount at all
    nested = parse_mountinfo(
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "30 27 8:1 / /var rw - ext4 /dev/sda1 rw\n"
        "31 30 8:1 /lib/agent/volumes /var/lib/agent/volumes rw shared:9 - ext4 /dev/sda1 rw\n"
    )
    assert is_self_bind(nested, Path("/var/lib/agent/volumes"))


def test_mounts_are_unmounted_deepest_first() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    under = [m for m in mounts if m.point.startswith("/srv/state/")] + [mounts[2]]
    order = [m.point for m in deepest_first(under)]
    assert order[-1] == "/srv/state/volumes"


def inspect(upper: str, work: str | None = None, driver: str = "overlay2") -> dict[str, Any]:
    if work is None:
        work = str(Path(upper).parent / "work")
    return {"GraphDriver": {"Name": driver, "Data": {"UpperDir": upper, "WorkDir": work}}}


def test_the_layer_directory_is_the_parent_of_the_upper_dir() -> None:
    upper = f"/var/lib/docker/overlay2/{LAYER_ID}/diff"
    layer = disk_layout.layer_dir(inspect(upper))
    assert layer.path == Path(f"/var/lib/docker/overlay2/{LAYER_ID}")
    assert layer.layer_id == LAYER_ID


@pytest.mark.parametrize(
    "info",
    [
        inspect(f"/var/lib/docker/overlay2/{LAYER_ID}/diff", driver="vfs"),
        inspect(f"/var/lib/docker/overlay2/{LAYER_ID}/upper"),
        inspect(f"/var/lib/docker/overlay2/{LAYER_ID}/diff", work="/tmp/work"),
        inspect("/var/lib/docker/overlay2/../../../etc/diff"),
        inspect(f"/var/lib/docker/overlay2/{LAYER_ID}-init/diff"),
        inspect(f"/var/lib/docker/aufs/{LAYER_ID}/diff"),
        inspect(f"relative/overlay2/{LAYER_ID}/diff"),
        {},
    ],
    ids=[
        "vfs",
        "not-diff",
        "work-elsewhere",
        "dotdot",
        "init-layer",
        "not-overlay2",
        "relative",
        "none",
    ],
)
def test_an_unexpected_layer_is_refused(info: dict[str, Any]) -> None:
    with pytest.raises(errors.AgentError) as refused:
        disk_layout.layer_dir(info)
    assert refused.value.code == errors.BOX_LAYER_FAILED


def test_a_fresh_image_gets_an_empty_home_and_a_layer_directory(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir()
    assert not disk_layout.migrate(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [disk_layout.MARKER, "home", "layer", "lost+found"]
    assert os.listdir(tmp_path / "home") == []
    assert tmp_path.stat().st_mode & 0o777 == 0o700
    assert not disk_layout.migrate(tmp_path)  # a second time changes nothing


def test_a_layout_1_home_moves_into_home_with_its_owner_and_mode(tmp_path: Path) -> None:
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "note").write_text("kept")
    (tmp_path / "home").mkdir()  # the user's own ~/home
    (tmp_path / "lost+found").mkdir()  # e2fsck may have made it again
    os.chmod(tmp_path, 0o750)  # noqa: S103 (a box home's mode)
    os.chown(tmp_path, 1000, 1000)
    assert disk_layout.migrate(tmp_path)
    home = tmp_path / "home"
    assert (home / ".claude" / "note").read_text() == "kept"
    assert (home / "home").is_dir()
    assert sorted(os.listdir(home)) == [".claude", "home"]
    made = home.stat()
    assert (made.st_uid, made.st_gid, made.st_mode & 0o7777) == (1000, 1000, 0o750)
    assert sorted(os.listdir(tmp_path)) == [disk_layout.MARKER, "home", "layer", "lost+found"]


def test_an_interrupted_migration_resumes_without_nesting_the_home(tmp_path: Path) -> None:
    staging = tmp_path / disk_layout.STAGING
    staging.mkdir()
    (staging / "moved-already").write_text("a")
    (tmp_path / "not-yet").write_text("b")
    disk_layout.migrate(tmp_path)
    assert sorted(os.listdir(tmp_path / "home")) == ["moved-already", "not-yet"]
    # Cut after the marker was written, before the last rename:
    (tmp_path / "home").rename(staging)
    disk_layout.migrate(tmp_path)
    assert sorted(os.listdir(tmp_path / "home")) == ["moved-already", "not-yet"]


def test_stale_layers_are_all_but_the_current_one(tmp_path: Path) -> None:
    assert disk_layout.stale_layers(tmp_path, LAYER_ID) == []
    layers = tmp_path / disk_layout.LAYER
    for name in (LAYER_ID, "0" * 64, f".{LAYER_ID}.partial"):
        (layers / name).mkdir(parents=True)
    stale = disk_layout.stale_layers(tmp_path, LAYER_ID)
    assert stale == [layers / f".{LAYER_ID}.partial", layers / ("0" * 64)]
    assert len(disk_layout.stale_layers(tmp_path, "")) == 3


async def test_a_command_that_fails_keeps_its_stderr_and_code() -> None:
    with pytest.raises(CommandFailed) as failed:
        await run(
            ["sh", "-c", "echo 'No space left on device' >&2; exit 3"],
            deadline_s=10,
            code=errors.HOME_VOLUME_FAILED,
        )
    assert failed.value.code == errors.HOME_VOLUME_FAILED
    assert failed.value.no_space and "sh failed" in failed.value.message


async def test_a_command_past_its_deadline_is_killed() -> None:
    with pytest.raises(CommandFailed) as late:
        await run(["sleep", "30"], deadline_s=0.2, code=errors.BOX_LAYER_FAILED)
    assert late.value.code == errors.BOX_LAYER_FAILED
    assert "within 0.2s" in late.value.message


async def test_a_missing_command_is_a_coded_failure() -> None:
    with pytest.raises(CommandFailed) as missing:
        await run(["/nonexistent/tool"], deadline_s=5, code=errors.HOME_VOLUME_FAILED)
    assert "could not run" in missing.value.message


async def test_stderr_is_kept_only_up_to_its_cap() -> None:
    with pytest.raises(CommandFailed) as loud:
        await run(
            ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x >&2; exit 1"],
            deadline_s=10,
            code=errors.HOME_VOLUME_FAILED,
        )
    assert len(loud.value.stderr) <= 16 * 1024
