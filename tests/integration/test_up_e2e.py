"""``cloudclaude up`` (what ``make up`` runs), twice on one state directory.

The first run initialises a private Postgres cluster and prints the first admin's password; the
second reuses everything. SIGINT drains the daemon and stops the Postgres it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration import pg
from tests.integration.processes import ctl, daemon, free_port, healthy, wait_for


@pytest.fixture
def up_state() -> Iterator[Path]:
    path = pg.scratch_dir("cc-up-")
    yield path
    # If the test failed before SIGINT, make sure no Postgres outlives it.
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(_postmaster_pid(path), signal.SIGQUIT)
    shutil.rmtree(path, ignore_errors=True)


def _postmaster_pid(state: Path) -> int:
    return int((state / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_up(state: Path, log: Path, port: int, sock: Path) -> Iterator[str]:
    """Start ``cloudclaude up``, wait until it prints where to go next, yield its output."""
    env = {
        "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
        "CLOUDCLAUDE_WEB__PORT": str(port),
        "CLOUDCLAUDE_CTL__SOCKET": str(sock),
        "CLOUDCLAUDE_AUTH__ARGON2_TIME_COST": "1",
        "CLOUDCLAUDE_AUTH__ARGON2_MEMORY_KIB": "8192",
    }
    with daemon(["up", "--state-dir", str(state)], env, log) as proc:
        wait_for(
            lambda: "cloudclaude is up." in log.read_text() or proc.poll() is not None,
            120,
            "`cloudclaude up` to be ready",
        )
        assert proc.poll() is None, log.read_text()
        assert healthy(f"http://127.0.0.1:{port}")
        postgres = _postmaster_pid(state)
        assert _alive(postgres)
        yield log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()
        wait_for(lambda: not _alive(postgres), 30, "the private Postgres to stop")


def test_up_twice_keeps_the_admin_and_the_data(up_state: Path) -> None:
    port, sock = free_port(), up_state / "ctl.sock"
    base = f"http://127.0.0.1:{port}"

    first = _run_up(up_state, up_state / "first.log", port, sock)
    output = next(first)
    assert "initialised a private PostgreSQL cluster" in output
    match = re.search(r"first admin admin / (\S+)", output)
    assert match, output
    password = match.group(1)
    login = httpx.post(f"{base}/v1/auth/login", json={"username": "admin", "password": password})
    assert login.status_code == 200
    assert login.json()["role"] == "admin"
    assert ctl(sock, "users", "add", "keepme").returncode == 0
    reload = ctl(sock, "reload", "--json")
    assert reload.returncode == 0, reload.stderr
    # The state dir and database `up` chose are not in any file; a reload must keep them.
    assert json.loads(reload.stdout) == {"applied": [], "needs_restart": []}
    with pytest.raises(StopIteration):
        next(first)
    assert "stopped the private PostgreSQL cluster" in (up_state / "first.log").read_text()

    second = _run_up(up_state, up_state / "second.log", port, sock)
    output = next(second)
    assert "initialised" not in output
    assert "first admin" not in output
    assert "existing admin accounts were kept" in output
    again = httpx.post(f"{base}/v1/auth/login", json={"username": "admin", "password": password})
    assert again.status_code == 200
    shown = ctl(sock, "users", "show", "keepme", "--json")
    assert shown.returncode == 0, shown.stderr
    with pytest.raises(StopIteration):
        next(second)
