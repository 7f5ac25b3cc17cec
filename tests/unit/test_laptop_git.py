"""The box's git requests (cloudclaude/client/laptop_git.py): which argv may run on the laptop,
how it runs (hooks off, no alias), and the request files over the SFTP server and
``image/laptop-git``."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from cloudclaude.client import laptop_git
from cloudclaude.client.laptop_git import GitRefused, parse, validate
from tests.sftp_client import Client, served

ROOT = Path(__file__).resolve().parents[2]
REMOTES = ["origin", "backup.2"]

ALLOWED = [
    ["push"],
    ["push", "origin"],
    ["push", "origin", "main"],
    ["push", "-u", "origin", "HEAD:refs/heads/feature/x"],
    ["push", "--force-with-lease", "origin", "main"],
    ["push", "--tags", "backup.2"],
    ["fetch", "origin", "+refs/heads/main:refs/remotes/origin/main"],
    ["fetch", "--all", "--prune"],
    ["fetch", "origin", "refs/heads/*:refs/remotes/origin/*"],
    ["pull", "--rebase", "origin", "main"],
    ["pull", "--ff-only"],
]

REFUSED = [
    ([], "only fetch, pull, push"),
    (["status"], "only fetch, pull, push"),
    (["clone", "https://x"], "only fetch, pull, push"),
    (["-c", "core.sshCommand=touch /tmp/x", "push"], "only fetch, pull, push"),
    (["push", "-c", "core.sshCommand=touch /tmp/x"], "sets git config"),
    (["push", "-ccore.sshCommand=x"], "sets git config"),
    (["push", "--config-env=core.sshCommand=X"], "sets git config"),
    (["push", "--exec-path=/tmp"], "runs git's programs"),
    (["push", "--receive-pack=touch /tmp/x", "origin"], "names a program"),
    (["push", "--receive-pack", "touch /tmp/x", "origin"], "names a program"),
    (["push", "--exec=touch /tmp/x", "origin"], "names a program"),
    (["fetch", "--upload-pack=touch /tmp/x", "origin"], "names a program"),
    (["fetch", "--upload-pa=touch /tmp/x", "origin"], "not an option"),  # abbreviated
    (["fetch", "-u", "origin"], "not an option"),  # --update-head-ok, not set-upstream
    (["push", "--git-dir=/etc", "origin"], "another repository"),
    (["push", "--work-tree=/", "origin"], "another directory"),
    (["push", "-C", "/", "origin"], "another directory"),
    (["push", "--namespace=x", "origin"], "changes which refs"),
    (["push", "--repo=https://evil/x"], "names a repository URL"),
    (["pull", "--rebase=interactive"], "not an option"),
    (["pull", "--recurse-submodules"], "submodules"),
    (["push", "--force"], "not an option"),
    (["push", "--"], "not an option"),
    (["push", "-vu"], "not an option"),
    (["push", "https://evil.example/x.git"], "never a URL"),
    (["push", "ext::sh -c touch% /tmp/x"], "never a URL"),
    (["fetch", "/tmp/other-repo"], "never a URL"),
    (["fetch", "../other"], "never a URL"),
    (["push", "."], "never a URL"),
    (["push", "evil"], "not a remote of this checkout"),
    (["push", "origin", "main;touch x"], "not a plain refspec"),
    (["push", "origin", "+-main"], "not a plain refspec"),
    (["push", "origin", "+main:main"], "forces the push"),
    (["push", "origin", ":old-branch"], "deletes a remote branch"),
    (["push", "origin", "main", ""], "not a plain refspec"),
]


@pytest.mark.parametrize("argv", ALLOWED, ids=" ".join)
def test_allowed_requests(argv: list[str]) -> None:
    assert validate(argv, REMOTES) == argv


@pytest.mark.parametrize(("argv", "reason"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_requests_say_why(argv: list[str], reason: str) -> None:
    with pytest.raises(GitRefused, match=reason.replace("(", r"\(")):
        validate(argv, REMOTES)


def test_a_request_is_nul_terminated_utf8() -> None:
    assert parse(b"push\0origin\0main\0") == ["push", "origin", "main"]
    for bad in (b"push origin", b"push\0\xff\0", b"x\0" * 40, b"a" * 9000 + b"\0"):
        with pytest.raises(GitRefused):
            parse(bad)


def test_the_command_turns_hooks_off_before_the_box_arguments() -> None:
    command = laptop_git.command(["push", "origin"])
    assert command[:2] == ["git", "-c"] and "core.hooksPath=/dev/null" in command
    assert command[-2:] == ["push", "origin"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def make_repos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A checkout with a bare remote named ``origin``, a pre-push hook and a ``push`` alias
    that would each leave a marker file."""
    bare, root = tmp_path / "remote.git", tmp_path / "proj"
    marker = tmp_path / "marker"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    git(root, "remote", "add", "origin", str(bare))
    git(root, "config", "alias.push", f"!touch {marker}-alias")
    hook = root / ".git/hooks/pre-push"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (root / "f.txt").write_text("one\n")
    git(root, "add", "f.txt")
    git(root, "commit", "-q", "-m", "one")
    return root, bare, marker


def wait_result(client: Client, name: str) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return client.get(f"/.cloud-claude/git/{name}.result")
        except Exception:  # noqa: BLE001 - not there yet
            time.sleep(0.05)
    raise AssertionError("no result")


def test_a_push_through_the_request_files_runs_without_hooks(tmp_path: Path) -> None:
    root, bare, marker = make_repos(tmp_path)
    events: list[str] = []
    with served(root, events) as (client, _):
        client.put("/.cloud-claude/git/r1.request", b"push\0origin\0main\0")
        status, _, output = wait_result(client, "r1").partition(b"\n")
        assert status == b"0", output
        assert client.listdir("/.cloud-claude/git") == ["r1.result"]
        client.remove("/.cloud-claude/git/r1.result")
        client.put("/.cloud-claude/git/r2.request", b"push\0-c\0core.sshCommand=x\0origin\0")
        status, _, output = wait_result(client, "r2").partition(b"\n")
        assert status == b"126" and b"sets git config" in output
    assert git(bare, "rev-parse", "main") == git(root, "rev-parse", "main")
    assert not marker.exists(), "the pre-push hook ran"
    assert not Path(f"{marker}-alias").exists(), "the alias ran"
    assert "git request: git push origin main" in events
    assert any(e.startswith("git request refused: '-c'") for e in events)
    assert "git push origin main: exit status 0" in events


def test_output_and_time_are_bounded(tmp_path: Path) -> None:
    root, _, _ = make_repos(tmp_path)
    code, output = laptop_git.run(str(root), ["fetch", "origin"], timeout=30)
    assert code == 0 and len(output) <= laptop_git.MAX_OUTPUT


def test_the_box_helper_writes_a_request_and_prints_the_result(tmp_path: Path) -> None:
    """``image/laptop-git`` against a plain directory standing in for the mount, with a
    Desk answering the requests it finds."""
    root, bare, _ = make_repos(tmp_path)
    (root / "sub").mkdir()
    gitdir = root / ".cloud-claude/git"
    gitdir.mkdir(parents=True)
    events: list[str] = []
    desk = laptop_git.Desk(str(root), events.append)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            for request in gitdir.glob("*.request"):
                request_id = request.name.removesuffix(".request")
                desk.submit(request_id, request.read_bytes())
                request.unlink()
            for request_id in desk.names():
                found = desk.result(request_id)
                assert found is not None
                (gitdir / f"{request_id}.result").write_bytes(found)
                desk.forget(request_id)
            time.sleep(0.05)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        ok = subprocess.run(
            ["sh", str(ROOT / "image/laptop-git"), "push", "origin", "main"],
            cwd=root / "sub",
            capture_output=True,
            timeout=60,
            check=False,
        )
        refused = subprocess.run(
            ["sh", str(ROOT / "image/laptop-git"), "push", "--upload-pack=x y", "origin"],
            cwd=root,
            capture_output=True,
            timeout=60,
            check=False,
        )
        usage = subprocess.run(
            ["sh", str(ROOT / "image/laptop-git"), "status"], capture_output=True, check=False
        )
    finally:
        stop.set()
        thread.join(5)
        desk.close()
    assert ok.returncode == 0, ok
    assert git(bare, "rev-parse", "main") == git(root, "rev-parse", "main")
    assert refused.returncode == 126 and b"names a program" in refused.stdout
    assert usage.returncode == 2
    assert list(gitdir.iterdir()) == []  # the helper removes its result
