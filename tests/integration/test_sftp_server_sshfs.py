"""The laptop's SFTP server under the real ``sshfs -o passive`` (as the agent runs it), over a
socket pair on this machine: files flow both ways, protected paths stay read-only, git works
in the mount, and ``image/laptop-git`` pushes through the mount with the laptop's hooks off.

The "box" is a mount point under another directory than the checkout, so a symlink the box
follows lands in the box's tree, never the laptop's (the kernel resolves it on its side).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudclaude.client.sftp_server import serve

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "image/laptop-git"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    ).stdout


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    """A checkout with a bare remote ``origin`` and a pre-push hook that leaves a marker."""
    base = tmp_path / "laptop"
    root, bare = base / "proj", base / "remote.git"
    base.mkdir()
    git(base, "init", "-q", "--bare", str(bare))
    git(base, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    git(root, "remote", "add", "origin", str(bare))
    hook = root / ".git/hooks/pre-push"
    hook.write_text(f"#!/bin/sh\ntouch {base}/hook-ran\n")
    hook.chmod(0o755)
    (root / "README.md").write_text("hello\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "one")
    (base / "secret").write_text("laptop only\n")
    (root / "up").symlink_to("../secret")
    return root


@pytest.fixture
def mounted(laptop: Path, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    mnt = tmp_path / "box/mnt"
    mnt.mkdir(parents=True)
    events: list[str] = []
    ours, theirs = socket.socketpair()
    sshfs = subprocess.Popen(
        ["sshfs", "-f", "-o", "passive", ":/", str(mnt)],
        stdin=theirs.fileno(),
        stdout=theirs.fileno(),
    )
    theirs.close()
    rfile, wfile = ours.makefile("rb"), ours.makefile("wb")
    thread = threading.Thread(
        target=serve, args=(str(laptop), rfile, wfile), kwargs={"report": events.append}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not (mnt / "README.md").exists():
            assert sshfs.poll() is None, "sshfs exited"
            assert time.monotonic() < deadline, "the mount did not appear"
            time.sleep(0.1)
        yield mnt, events
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False, capture_output=True)
        try:
            sshfs.wait(10)
        except subprocess.TimeoutExpired:
            sshfs.kill()
            sshfs.wait()
        rfile.close()
        wfile.close()
        ours.close()
        thread.join(10)


def test_files_edited_on_either_side_are_seen_on_the_other(
    laptop: Path, mounted: tuple[Path, list[str]]
) -> None:
    mnt, _ = mounted
    assert (mnt / "README.md").read_text() == "hello\n"
    (mnt / "from-box.txt").write_text("written in the box\n")
    assert (laptop / "from-box.txt").read_text() == "written in the box\n"
    (laptop / "from-laptop.txt").write_text("written on the laptop\n")
    assert (mnt / "from-laptop.txt").read_text() == "written on the laptop\n"
    (mnt / "dir").mkdir()
    os.rename(mnt / "from-box.txt", mnt / "dir/moved.txt")
    assert (laptop / "dir/moved.txt").exists()
    assert ".cloud-claude" not in os.listdir(mnt)


def test_hooks_are_readable_but_not_writable(laptop: Path, mounted: tuple[Path, list[str]]) -> None:
    mnt, events = mounted
    hook = mnt / ".git/hooks/pre-push"
    assert "hook-ran" in hook.read_text()
    (mnt / "evil").write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    for attempt in (
        lambda: hook.write_text("#!/bin/sh\nrm -rf ~\n"),
        lambda: os.chmod(mnt / ".git/hooks/pre-commit.sample", 0o700),
        lambda: os.rename(mnt / "evil", mnt / ".git/hooks/pre-commit"),
        lambda: (mnt / ".git/config").write_text("[core]\nfsmonitor = touch /tmp/pwned\n"),
        lambda: (mnt / ".gitmodules").write_text("x"),
    ):
        with pytest.raises(PermissionError) as caught:
            attempt()
        assert caught.value.errno == errno.EACCES
    assert "hook-ran" in (laptop / ".git/hooks/pre-push").read_text()
    assert not (laptop / ".git/hooks/pre-commit").exists()
    assert any("refused: write /.git/hooks/pre-push" in e for e in events)


def test_symlinks_and_dotdot_do_not_reach_the_laptop(
    laptop: Path, mounted: tuple[Path, list[str]]
) -> None:
    mnt, _ = mounted
    (laptop / "in").symlink_to("README.md")
    assert (mnt / "in").read_text() == "hello\n"
    # Resolved in the box (<box>/secret), never the laptop's; Debian's sshfs also refuses
    # to return a target with ".." unless mounted with no_contain_symlinks.
    with pytest.raises((PermissionError, FileNotFoundError)):
        (mnt / "up").read_text()
    assert not (mnt / ".." / "secret").exists()
    with pytest.raises(PermissionError):
        os.symlink("/etc/passwd", mnt / "new-link")
    with pytest.raises(PermissionError):
        os.symlink("../secret", mnt / "other-link")
    assert not os.path.lexists(laptop / "new-link")
    assert not os.path.lexists(laptop / "other-link")


def test_git_status_works_in_the_mount(laptop: Path, mounted: tuple[Path, list[str]]) -> None:
    mnt, _ = mounted
    (mnt / "new.txt").write_text("new\n")
    (mnt / "README.md").write_text("changed in the box\n")
    status = git(mnt, "-c", f"safe.directory={mnt}", "status", "--porcelain")
    assert status.splitlines() == [" M README.md", "?? new.txt", "?? up"]
    assert git(laptop, "status", "--porcelain") == status
    git(mnt, "-c", f"safe.directory={mnt}", "add", "README.md")  # writes .git/index
    git(mnt, "-c", f"safe.directory={mnt}", "commit", "-q", "-m", "from the box")
    assert "from the box" in git(laptop, "log", "-1", "--format=%s")


def test_a_proxied_push_runs_on_the_laptop_with_hooks_off(
    laptop: Path, mounted: tuple[Path, list[str]]
) -> None:
    mnt, events = mounted
    (laptop / "two.txt").write_text("two\n")
    git(laptop, "add", "two.txt")
    git(laptop, "commit", "-q", "-m", "two")
    pushed = subprocess.run(
        ["sh", str(HELPER), "push", "origin", "main"], cwd=mnt, capture_output=True, timeout=120
    )
    assert pushed.returncode == 0, pushed
    bare = laptop.parent / "remote.git"
    assert git(bare, "rev-parse", "main") == git(laptop, "rev-parse", "main")
    assert not (laptop.parent / "hook-ran").exists(), "the laptop's pre-push hook ran"
    refused = subprocess.run(
        ["sh", str(HELPER), "push", "-c", "core.sshCommand=touch /tmp/x", "origin"],
        cwd=mnt / "",
        capture_output=True,
        timeout=120,
    )
    assert refused.returncode == 126
    assert b"sets git config" in refused.stdout
    assert "git request: git push origin main" in events
    assert any(e.startswith("git request refused: '-c'") for e in events)
