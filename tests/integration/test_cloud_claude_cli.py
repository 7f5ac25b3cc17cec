"""``cloud-claude`` as a user on a laptop would run it: installed by the pinned one-liner into an
empty home (no root, the system's python3, nothing but the standard library), signed in with
trust on first use, driving a real box through the real daemon, SSH proxy and ``ssh``."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import trio

from tests.integration.laptop import PASSWORD, Laptop, fetch_until_up, new_user
from tests.integration.sshstack import SshStack


async def test_install_login_and_drive_a_box_over_ssh(ssh_stack: SshStack, tmp_path: Path) -> None:
    laptop = Laptop(tmp_path, ssh_stack)
    name = await new_user(ssh_stack)
    await laptop.install(name)
    assert (tmp_path / ".local/share/cloud-claude/cloud-claude.pyz").exists()

    login = await laptop.run(
        "login", ssh_stack.url, "-u", name, "--password-stdin", "--yes", stdin=PASSWORD + "\n"
    )
    assert login.returncode == 0, login.stderr
    assert ssh_stack.pin.encode() in login.stdout  # the TLS key it pinned, shown
    config = tmp_path / ".config/cloud-claude"
    assert PASSWORD.encode() not in (config / "config.json").read_bytes()
    assert (config / "id_ed25519").exists()  # a key of its own, registered at login

    # Self-service through the CLI: a box made and started, with progress.
    made = await laptop.run("create", "--json")
    assert made.returncode == 0, made.stderr
    short_id = json.loads(made.stdout)["short_id"]
    listed = await laptop.run("ls", "--json")
    hosts: list[dict[str, Any]] = json.loads(listed.stdout)
    assert [(h["short_id"], h["status"]) for h in hosts] == [(short_id, "running")]

    echoed = await laptop.run("ssh", short_id, "--", "echo", "hello from the box")
    assert echoed.returncode == 0, echoed.stderr
    assert echoed.stdout == b"hello from the box\n"
    failed = await laptop.run("ssh", short_id, "--", "sh", "-c", "exit 7")
    assert failed.returncode == 7  # the remote status passes through

    written = await laptop.run("ssh-config", "--write")
    assert written.returncode == 0, written.stderr
    plain = await trio.run_process(
        ["ssh", "-F", str(config / "ssh_config"), f"cc-{short_id}", "hostname"],
        env=laptop.env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert plain.returncode == 0 and plain.stdout.strip() == f"box-{short_id}".encode()

    # Files both ways through the proxy (scp, SFTP), and rsync.
    local = tmp_path / "notes.txt"
    local.write_text("from the laptop\n")
    up = await laptop.run("cp", str(local), f"{short_id}:/tmp/notes.txt")
    assert up.returncode == 0, up.stderr
    down = await laptop.run("cp", f"{short_id}:/tmp/notes.txt", str(tmp_path / "back.txt"))
    assert down.returncode == 0 and (tmp_path / "back.txt").read_text() == "from the laptop\n"
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("a")
    synced = await laptop.run("sync", f"{tree}/", f"{short_id}:tree/")
    assert synced.returncode == 0, synced.stderr
    shown = await laptop.run("ssh", short_id, "--", "cat", "tree/sub/a.txt")
    assert shown.stdout == b"a"

    # tmux sessions of the box.
    await laptop.run("ssh", short_id, "--", "tmux", "new-session", "-d", "-s", "work")
    sessions = await laptop.run("sessions", "ls", "--host", short_id, "--json")
    assert {"name": "work", "attached": 0} in json.loads(sessions.stdout), sessions

    await _forward_survives_a_drop(laptop, ssh_stack, short_id)

    stopped = await laptop.run("stop", short_id)
    assert stopped.returncode == 0, stopped.stderr
    assert b"%" in stopped.stderr  # progress lines
    status = await laptop.run("status", short_id, "--json")
    assert json.loads(status.stdout)["status"] == "stopped"

    deleted = await laptop.run("delete", short_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr

    out = await laptop.run("logout")
    assert out.returncode == 0
    refused = await laptop.run("ls")
    assert refused.returncode == 5  # signed out


async def test_a_wrong_password_and_a_changed_key_are_refused_with_codes(
    ssh_stack: SshStack, tmp_path: Path
) -> None:
    laptop = Laptop(tmp_path, ssh_stack)
    name = await new_user(ssh_stack)
    await laptop.install(name)
    wrong = await laptop.run(
        "login", ssh_stack.url, "-u", name, "--password-stdin", "--yes", stdin="nope\n"
    )
    assert wrong.returncode == 10  # auth_invalid's exit code, as the curl scripts use
    assert b"AUTH_001" in wrong.stderr

    ok = await laptop.run(
        "login", ssh_stack.url, "-u", name, "--password-stdin", "--yes", stdin=PASSWORD + "\n"
    )
    assert ok.returncode == 0, ok.stderr

    # A fresh profile without its SSH key: doctor says so (exit 2) and --fix repairs it.
    for name in ("id_ed25519", "id_ed25519.pub"):
        (tmp_path / ".config/cloud-claude" / name).unlink()
    broken = await laptop.run("doctor")
    assert broken.returncode == 2 and b"FAIL  ssh key" in broken.stdout, broken.stdout
    fixed = await laptop.run("doctor", "--fix", "--password-stdin", stdin=PASSWORD + "\n")
    assert b"ok    ssh key" in fixed.stdout and b"made and registered" in fixed.stdout, fixed
    healthy = await laptop.run("doctor", "--json")
    verdicts = {c["name"]: c["verdict"] for c in json.loads(healthy.stdout)}
    assert verdicts == {
        "ssh client": "ok",
        "server": "ok",
        "token": "ok",
        "clock": "ok",
        "ssh host key": "ok",
        "ssh key": "ok",
        "mount": "ok",  # not checked: the laptop's home is no git checkout
    }
    assert healthy.returncode == 0
    config = tmp_path / ".config/cloud-claude/config.json"
    data = json.loads(config.read_text())
    data["tls_pin"] = "sha256//" + "A" * 43 + "="
    config.write_text(json.dumps(data))
    mismatch = await laptop.run("ls")
    assert mismatch.returncode == 6 and b"not the pinned" in mismatch.stderr

    explained = await laptop.run("explain", "NET_017")
    assert explained.returncode == 0 and b"llm_upstream_unreachable" in explained.stdout


async def _forward_survives_a_drop(laptop: Laptop, stack: SshStack, short_id: str) -> None:
    """A local port reaches a server in the box, and again after the connection is killed."""
    serve = "nohup python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &"
    await laptop.run("ssh", short_id, "--", "sh", "-c", serve)
    local = 18765
    log = laptop.home / "forward.err"
    async with trio.open_nursery() as nursery, await trio.open_file(log, "wb") as err:
        forward = await nursery.start(
            functools.partial(
                trio.run_process,
                ["cloud-claude", "forward", short_id, f"{local}:8765"],
                env=laptop.env,
                stdout=subprocess.DEVNULL,
                stderr=err.wrapped.fileno(),
                check=False,
            )
        )
        try:
            assert await fetch_until_up(local)
            # Kill the forward's TCP connection to the proxy (as a network drop would).
            port = stack.proxy.port
            await trio.run_process(["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{port}"])
            assert await fetch_until_up(local)  # back by itself, after its backoff
        finally:
            forward.terminate()
    assert "connection lost" in log.read_text()  # it was cut, and came back


async def test_pip_installs_the_cli_from_the_servers_own_index(
    ssh_stack: SshStack, tmp_path: Path
) -> None:
    """What ``pipx install --index-url https://SERVER/v1/cli/simple/ cloud-claude`` does: a
    fresh venv, pip against the server's index only (checked with the local CA), a runnable
    command that needs nothing else."""
    tls = ssh_stack.stack.services.tls
    assert tls is not None and tls.local is not None
    venv = tmp_path / "venv"
    await trio.run_process(["python3", "-m", "venv", str(venv)])
    installed = await trio.run_process(
        [
            str(venv / "bin/pip"),
            "--isolated",  # this machine's pip settings (mirrors, caches) stay out of it
            "install",
            "--no-cache-dir",
            "--index-url",
            f"{ssh_stack.url}/v1/cli/simple/",
            "--cert",
            str(tls.local.ca_cert),
            "cloud-claude",
        ],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    explained = await trio.run_process(
        [str(venv / "bin/cloud-claude"), "explain", "AUTH_001"], capture_stdout=True
    )
    assert explained.stdout.startswith(b"AUTH_001 auth_invalid")
