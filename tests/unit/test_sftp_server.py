"""The laptop's SFTP server (cloudclaude/client/sftp_server.py) driven by a small client over
a socket pair: it works, it stays in the checkout, it refuses writes to protected paths and
it closes cleanly on hostile packets."""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudclaude.client import sftp_wire as w
from cloudclaude.client.sftp_confine import PROTECTED, protected
from cloudclaude.client.sftp_session import MAX_HANDLES
from tests.sftp_client import Client, SftpError, served


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".git/hooks/pre-push").write_text("#!/bin/sh\necho hook\n")
    (root / "README.md").write_text("hello\n")
    (root / "src").mkdir()
    (root / "src/a.txt").write_text("a\n")
    (tmp_path / "secret").write_text("outside\n")
    return root


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def client(checkout: Path, events: list[str]) -> Iterator[Client]:
    with served(checkout, events) as (c, _thread):
        yield c


def denied(call: object) -> None:
    assert isinstance(call, SftpError) and call.code == w.PERMISSION_DENIED, call


def test_init_answers_version_3_with_the_extensions_sshfs_uses(client: Client) -> None:
    assert client.version == 3
    assert b"posix-rename@openssh.com" in client.extensions
    assert b"statvfs@openssh.com" in client.extensions
    assert b"fsync@openssh.com" in client.extensions
    assert b"hardlink@openssh.com" not in client.extensions


def test_files_are_read_written_renamed_and_listed(client: Client, checkout: Path) -> None:
    assert client.get("/README.md") == b"hello\n"
    assert client.get("src/a.txt") == b"a\n"  # relative paths are from the root too
    client.put("/src/b.txt", b"written in the box\n")
    assert (checkout / "src/b.txt").read_bytes() == b"written in the box\n"
    (checkout / "src/a.txt").write_text("edited on the laptop\n")
    assert client.get("/src/a.txt") == b"edited on the laptop\n"
    client.rename("/src/b.txt", "/src/c.txt")
    with pytest.raises(SftpError):
        client.rename("/src/c.txt", "/src/a.txt")  # plain RENAME never replaces
    client.posix_rename("/src/c.txt", "/src/a.txt")
    assert (checkout / "src/a.txt").read_bytes() == b"written in the box\n"
    client.mkdir("/new")
    client.put("/new/x", b"x")
    assert client.listdir("/new") == ["x"]
    client.remove("/new/x")
    client.rmdir("/new")
    assert client.listdir("/") == [".git", "README.md", "src"]  # no /.cloud-claude listed
    assert client.realpath(".") == "/" and client.realpath("/src/../src/a.txt") == "/src/a.txt"
    client.setstat("/README.md", w.Attrs(perms=0o755))
    assert (checkout / "README.md").stat().st_mode & 0o777 == 0o755
    assert client.stat("/README.md").size == 6
    client.extended(b"statvfs@openssh.com", "/")


def test_reads_are_bounded_and_end_with_eof(client: Client, checkout: Path) -> None:
    (checkout / "big").write_bytes(b"z" * (1024 * 1024))
    handle = client.open("/big", w.FXF_READ)
    assert len(client.read(handle, 0, 10 * 1024 * 1024)) == w.MAX_READ
    assert client.read(handle, 1024 * 1024, 100) == b""
    client.close(handle)


@pytest.mark.parametrize(
    "path", ["/../secret", "../secret", "/src/../../secret", "/src/../..", "/.."]
)
def test_dotdot_never_leaves_the_checkout(client: Client, events: list[str], path: str) -> None:
    with pytest.raises(SftpError) as caught:
        client.get(path)
    denied(caught.value)
    with pytest.raises(SftpError) as caught:
        client.put(path + "/new", b"x")
    denied(caught.value)
    assert any("leaves the checkout" in e for e in events)


def test_an_absolute_path_is_read_inside_the_checkout(client: Client, checkout: Path) -> None:
    with pytest.raises(SftpError) as caught:
        client.get(str(checkout.parent / "secret"))
    assert caught.value.code == w.NO_SUCH_FILE  # /tmp/... is looked up below the root


def test_symlinks_out_of_the_checkout_are_not_followed(
    client: Client, checkout: Path, events: list[str]
) -> None:
    (checkout / "etc").symlink_to("/etc")
    (checkout / "up").symlink_to("..")
    (checkout / "pw").symlink_to("/etc/passwd")
    (checkout / "sec").symlink_to(checkout.parent / "secret")
    for path in ("/etc/passwd", "/up/secret", "/pw", "/sec", "/src/../up/secret"):
        with pytest.raises(SftpError) as caught:
            client.get(path)
        denied(caught.value)
    with pytest.raises(SftpError) as caught:
        client.stat("/pw")
    denied(caught.value)
    with pytest.raises(SftpError) as caught:
        client.put("/up/planted", b"x")
    denied(caught.value)
    with pytest.raises(SftpError) as caught:
        client.listdir("/etc")
    denied(caught.value)
    assert not (checkout.parent / "planted").exists()
    assert client.lstat("/pw").perms is not None  # the link itself is fine
    assert client.readlink("/pw") == "/etc/passwd"
    assert any("points outside" in e for e in events)


def test_symlinks_inside_the_checkout_are_followed(client: Client, checkout: Path) -> None:
    (checkout / "rel").symlink_to("src/a.txt")
    (checkout / "abs").symlink_to(checkout / "README.md")
    (checkout / "src/back").symlink_to("../README.md")
    assert client.get("/rel") == b"a\n"
    assert client.get("/abs") == b"hello\n"
    assert client.get("/src/back") == b"hello\n"
    assert client.realpath("/src/back") == "/README.md"


def test_symlinks_made_by_the_box_stay_inside(client: Client, checkout: Path) -> None:
    client.symlink("a.txt", "/src/ok")
    assert os.readlink(checkout / "src/ok") == "a.txt"
    for target, link in [
        ("/etc/passwd", "/abs"),
        ("../../secret", "/src/esc"),
        ("../.git/hooks/post-checkout", "/src/hook"),
        (".git", "/gitdir"),
        (".", "/self"),
    ]:
        with pytest.raises(SftpError) as caught:
            client.symlink(target, link)
        denied(caught.value)
        assert not os.path.lexists(checkout / link.lstrip("/"))


PROTECTED_FILES = [
    ".git/hooks/pre-push",
    ".git/hooks/post-checkout",
    ".git/config",
    ".git/config.worktree",
    ".git/info/exclude",
    ".git/info/attributes",
    ".git/commondir",
    ".git/remotes/evil",
    ".git/objects/info/alternates",
    ".git/modules/sub/config",
    ".git/modules/sub/hooks/post-checkout",
    ".git/worktrees/wt/commondir",
    ".gitmodules",
    "src/.gitmodules",
    "src/.git/config",
    ".envrc",
    "src/.envrc",
    ".vscode/tasks.json",
    ".vscode/settings.json",
    "proj.code-workspace",
    ".env",
    "web/.env",
    ".pre-commit-config.yaml",
    ".husky/pre-commit",
    "lefthook.yml",
    ".GIT/HOOKS/pre-push",
    ".Git/Config",
    ".g\u200cit/config",
]


@pytest.mark.parametrize("path", PROTECTED_FILES)
def test_protected_paths_are_named_in_the_table(path: str) -> None:
    assert protected(tuple(p.encode() for p in path.split("/"))) is not None


@pytest.mark.parametrize(
    "path", [".git/HEAD", ".git/index", ".git/refs/heads/main", ".git/objects/ab/cd", "src/x"]
)
def test_what_git_in_the_box_writes_is_not_protected(path: str) -> None:
    assert protected(tuple(p.encode() for p in path.split("/"))) is None


def test_the_table_has_a_reason_for_each_entry() -> None:
    assert all(why and kind in ("entry", "tree") for _, kind, why in PROTECTED)


def test_writes_to_protected_paths_are_refused_and_reported(
    client: Client, checkout: Path, events: list[str]
) -> None:
    hook = checkout / ".git/hooks/pre-push"
    before = hook.read_bytes()
    assert client.get("/.git/hooks/pre-push") == before  # reads are fine
    assert client.get("/.git/config").startswith(b"[core]")
    (checkout / "evil").write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    (checkout / "evildir").mkdir()
    (checkout / ".git/modules").mkdir()
    (checkout / "evildir/config").write_text("[core]\nfsmonitor = touch /tmp/pwned\n")
    (checkout / "link-to-config").symlink_to(".git/config")
    attempts: list[Callable[[], object]] = [
        lambda: client.put("/.git/hooks/pre-push", b"#!/bin/sh\nrm -rf ~\n"),
        lambda: client.put("/.GIT/hooks/pre-push", b"x"),
        lambda: client.put("/.git/hooks/post-merge", b"x"),
        lambda: client.put("/.git/config", b"x"),
        lambda: client.put("/link-to-config", b"x"),
        lambda: client.put("/.gitmodules", b"x"),
        lambda: client.put("/.git/info/exclude", b"x"),
        lambda: client.put("/.envrc", b"x"),
        lambda: client.put("/src/.git/config", b"x"),
        lambda: client.setstat("/.git/hooks/pre-push", w.Attrs(perms=0o755)),
        lambda: client.setstat("/.git/hooks/pre-commit.sample", w.Attrs(perms=0o755)),
        lambda: client.setstat("/.git/config", w.Attrs(size=0)),
        lambda: client.remove("/.git/config"),
        lambda: client.remove("/.git/hooks/pre-push"),
        lambda: client.rename("/evil", "/.git/hooks/pre-commit"),
        lambda: client.posix_rename("/evil", "/.git/hooks/pre-push"),
        lambda: client.posix_rename("/.git/hooks", "/old-hooks"),
        lambda: client.posix_rename("/.git", "/old-git"),
        lambda: client.posix_rename("/evildir", "/.git/modules/sub"),
        lambda: client.mkdir("/.git/hooks/dir"),
        lambda: client.mkdir("/src/.git"),
        lambda: client.rmdir("/.git/hooks"),
        lambda: client.symlink("../../evil", "/.git/hooks/post-checkout"),
    ]
    for n, attempt in enumerate(attempts):
        with pytest.raises(SftpError) as caught:
            attempt()
        assert caught.value.code == w.PERMISSION_DENIED, (n, caught.value)
    assert hook.read_bytes() == before and hook.stat().st_mode & 0o111 == 0
    assert not (checkout / ".git/hooks/pre-commit").exists()
    assert not (checkout / "src/.git").exists()
    assert "[core]" in (checkout / ".git/config").read_text()
    assert len([e for e in events if e.startswith("refused")]) == len(attempts)


def test_hard_links_are_refused(client: Client, checkout: Path, events: list[str]) -> None:
    with pytest.raises(SftpError) as caught:
        client.extended(b"hardlink@openssh.com", "/.git/hooks/pre-push", "/innocent")
    denied(caught.value)
    os.link(checkout / ".git/config", checkout / "alias")  # made on the laptop
    with pytest.raises(SftpError) as caught:
        client.put("/alias", b"x")
    denied(caught.value)
    assert "[core]" in (checkout / ".git/config").read_text()


def test_a_fifo_does_not_hang_the_server(client: Client, checkout: Path) -> None:
    os.mkfifo(checkout / "fifo")
    with pytest.raises(SftpError):
        client.get("/fifo")
    assert client.get("/README.md") == b"hello\n"


def test_open_handles_are_bounded(client: Client) -> None:
    handles = [client.open("/README.md", w.FXF_READ) for _ in range(MAX_HANDLES)]
    with pytest.raises(SftpError) as caught:
        client.open("/README.md", w.FXF_READ)
    assert caught.value.code == w.FAILURE
    for handle in handles:
        client.close(handle)
    client.close(client.open("/README.md", w.FXF_READ))


def test_an_unknown_handle_is_a_bad_message(client: Client) -> None:
    with pytest.raises(SftpError) as caught:
        client.read(b"nope", 0, 10)
    assert caught.value.code == w.BAD_MESSAGE


def test_an_oversized_packet_closes_the_session(checkout: Path, events: list[str]) -> None:
    with served(checkout, events) as (c, thread):
        c.raw(struct.pack(">IBI", 10 * 1024 * 1024, w.WRITE, 1))
        c.sock.settimeout(10)
        assert c.sock.recv(100) == b""  # closed, nothing more read
        thread.join(10)
        assert not thread.is_alive()
    assert any("refused" in e and "closing" in e for e in events)


def test_a_truncated_packet_is_a_bad_message(client: Client) -> None:
    client.raw(struct.pack(">IBI", 5, w.STAT, 7))  # no path
    kind, body = w.read_packet(client.rfile)
    r = w.Reader(body)
    assert (kind, r.u32(), r.u32()) == (w.STATUS, 7, w.BAD_MESSAGE)


def test_a_session_without_init_is_closed(checkout: Path, events: list[str]) -> None:
    ours, theirs = socket.socketpair()
    from threading import Thread

    from cloudclaude.client.sftp_server import serve

    thread = Thread(
        target=serve, args=(str(checkout), theirs.makefile("rb"), theirs.makefile("wb"))
    )
    thread.start()
    ours.sendall(w.Writer(w.OPEN, 1).string(b"/x").u32(1).attrs(w.Attrs()).packet())
    thread.join(10)
    assert not thread.is_alive()
    ours.close()
    theirs.close()


def test_core_hooks_path_inside_the_checkout_is_protected(
    checkout: Path, events: list[str]
) -> None:
    subprocess.run(["git", "config", "core.hooksPath", "tools/hooks"], cwd=checkout, check=True)
    (checkout / "tools/hooks").mkdir(parents=True)
    (checkout / "tools/other").mkdir()
    with served(checkout, events) as (c, _):
        attempts: list[Callable[[], object]] = [
            lambda: c.put("/tools/hooks/pre-commit", b"#!/bin/sh\ntouch /tmp/pwned\n"),
            lambda: c.posix_rename("/tools/other", "/tools/hooks"),
            lambda: c.posix_rename("/tools", "/tools-old"),
        ]
        for attempt in attempts:
            with pytest.raises(SftpError) as caught:
                attempt()
            denied(caught.value)
        c.put("/tools/other/fine", b"x")
    assert not (checkout / "tools/hooks/pre-commit").exists()
    assert any("core.hooksPath" in e for e in events)


def test_hostile_packets_get_answers_and_the_session_goes_on(
    client: Client, checkout: Path
) -> None:
    rng = random.Random(17)
    kinds = [*range(1, 21), w.EXTENDED, 99]
    for n in range(3000):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        if rng.random() < 0.5:  # a plausible path string, to get past the first field
            name = rng.choice([b"/", b"/nothing", b"/src", b"../x", b"/.git/hooks/x"])
            body = struct.pack(">I", len(name)) + name + body
        packet = struct.pack(">IBI", 5 + len(body), rng.choice(kinds), n) + body
        client.raw(packet)
        _, reply = w.read_packet(client.rfile)
        assert struct.unpack(">I", reply[:4])[0] == n
    assert client.get("/README.md") == b"hello\n"
    assert (checkout / ".git/hooks/pre-push").read_text() == "#!/bin/sh\necho hook\n"
