"""``cloudclaude up`` (what ``make up`` runs): the production process layout, run twice.

The daemon runs as user ``cloudclaude`` with no capabilities, the agent as a separate root
process that ``up`` restarts when it dies, Postgres as ``cloudclaude``. The first run
initialises the cluster and prints the first admin's password; the second reuses everything.
SIGINT drains the daemon, then stops the agent and Postgres.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration import pg
from tests.integration.boxes import EGRESS_POOL
from tests.integration.netsim import SimInternet
from tests.integration.processes import ctl, daemon, free_port, healthy, proc_status, wait_for


@pytest.fixture
def up_state() -> Iterator[Path]:
    path = pg.scratch_dir("cc-up-")
    yield path
    # If the test failed before SIGINT, make sure no Postgres or agent outlives it.
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(_postmaster_pid(path), signal.SIGQUIT)
    for pid in _agent_pids(path):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(_agent_state(path), ignore_errors=True)


def _agent_state(state: Path) -> Path:
    return state.with_name(state.name + "-agent")


def _agent_pids(state: Path) -> list[int]:
    """The agent processes ``up`` started for ``state`` (found by their --state-dir)."""
    wanted = f"--state-dir={_agent_state(state)}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            program = b" ".join(argv[:2])
            if entry.name.isdigit() and b"cloudclaude-agent" in program and wanted in argv:
                found.append(int(entry.name))
    return found


def _listener(port: int) -> int:
    """The pid listening on TCP ``port``."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    assert match, out
    return int(match.group(1))


def _postmaster_pid(state: Path) -> int:
    return int((state / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_up(
    state: Path,
    log: Path,
    port: int,
    sock: Path,
    ssh_port: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start ``cloudclaude up``, wait until it prints where to go next, yield its output."""
    env = {
        **(extra_env or {}),
        "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
        "CLOUDCLAUDE_WEB__PORT": str(port),
        "CLOUDCLAUDE_SSH__PORT": str(ssh_port),
        "CLOUDCLAUDE_CTL__SOCKET": str(sock),
        "CLOUDCLAUDE_AUTH__ARGON2_TIME_COST": "1",
        "CLOUDCLAUDE_AUTH__ARGON2_MEMORY_KIB": "8192",
    }
    with daemon(["up", "--state-dir", str(state)], env, log) as proc:
        wait_for(
            lambda: "cloudclaude is up." in log.read_text() or proc.poll() is not None,
            # The first run on a fresh machine also installs the daemon's own runtime.
            600,
            "`cloudclaude up` to be ready",
        )
        assert proc.poll() is None, log.read_text()
        assert healthy(f"https://127.0.0.1:{port}", local_ca(state))
        postgres = _postmaster_pid(state)
        assert _alive(postgres)
        yield log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()
        wait_for(lambda: not _alive(postgres), 30, "the private Postgres to stop")
        assert _agent_pids(state) == [], "the agent outlived `up`"


def local_ca(state: Path) -> ssl.SSLContext:
    """Trust in the local CA `up` made (what a browser has after importing it)."""
    return ssl.create_default_context(cafile=str(state / "tls" / "ca.pem"))


def test_up_twice_keeps_the_admin_and_the_data(up_state: Path) -> None:
    port, sock = free_port(), up_state / "ctl.sock"
    base = f"https://127.0.0.1:{port}"

    first = _run_up(up_state, up_state / "first.log", port, sock)
    output = next(first)
    assert "initialised a private PostgreSQL cluster" in output
    match = re.search(r"first admin admin / (\S+)", output)
    assert match, output
    password = match.group(1)
    # The printed one-liner is pinned to the served key, and the pin works with curl.
    one_liner = re.search(
        r"one-liner   curl -fsSL -k --pinnedpubkey '(sha256//[A-Za-z0-9+/=]+)'"
        r" https://\S+:(\d+)/v1/bootstrap/script \| sh",
        output,
    )
    assert one_liner and one_liner.group(2) == str(port), output
    pinned = subprocess.run(
        ["curl", "-fsS", "-k", "--pinnedpubkey", one_liner.group(1), f"{base}/healthz"],
        capture_output=True,
        timeout=30,
    )
    assert pinned.returncode == 0, pinned.stderr
    login = httpx.post(
        f"{base}/v1/auth/login",
        json={"username": "admin", "password": password},
        verify=local_ca(up_state),
    )
    assert login.status_code == 200
    assert login.json()["role"] == "admin"
    assert ctl(sock, "users", "add", "keepme").returncode == 0
    reload = ctl(sock, "reload", "--json")
    assert reload.returncode == 0, reload.stderr
    # The state dir and database `up` chose are not in any file; a reload must keep them.
    assert json.loads(reload.stdout) == {"applied": [], "needs_restart": []}
    with pytest.raises(StopIteration):
        next(first)
    stopped = "stopped the daemon, the agent and the private PostgreSQL cluster"
    assert stopped in (up_state / "first.log").read_text()

    second = _run_up(up_state, up_state / "second.log", port, sock)
    output = next(second)
    assert "initialised" not in output
    assert "first admin" not in output
    assert "existing admin accounts were kept" in output
    again = httpx.post(
        f"{base}/v1/auth/login",
        json={"username": "admin", "password": password},
        verify=local_ca(up_state),
    )
    assert again.status_code == 200
    shown = ctl(sock, "users", "show", "keepme", "--json")
    assert shown.returncode == 0, shown.stderr
    with pytest.raises(StopIteration):
        next(second)


def test_up_runs_the_daemon_unprivileged_and_restarts_the_agent(up_state: Path) -> None:
    port, ssh_port, sock = free_port(), free_port(), up_state / "ctl.sock"
    run = _run_up(up_state, up_state / "up.log", port, sock, ssh_port)
    next(run)
    web, ssh = _listener(port), _listener(ssh_port)
    assert web == ssh  # one daemon serves both
    daemon = proc_status(web)
    uid = int(daemon["Uid"].split()[0])
    assert uid != 0 and set(daemon["Uid"].split()) == {str(uid)}, daemon["Uid"]
    assert int(daemon["CapEff"], 16) == 0 and int(daemon["CapPrm"], 16) == 0
    assert pwd.getpwuid(uid).pw_name == "cloudclaude"
    assert (up_state / "postgres").stat().st_uid == uid
    assert Path(f"/proc/{_postmaster_pid(up_state)}").stat().st_uid == uid
    [agent] = _agent_pids(up_state)
    assert agent != web and proc_status(agent)["Uid"].split()[0] == "0"
    assert _agent_state(up_state).stat().st_uid == 0

    os.kill(agent, signal.SIGKILL)  # `up` starts it again; the daemon reaches the new one
    wait_for(lambda: _agent_pids(up_state) not in ([], [agent]), 60, "a new agent")

    def agent_ok() -> bool:
        status = ctl(sock, "status", "--json")
        return status.returncode == 0 and json.loads(status.stdout)["agent"]["status"] == "ok"

    wait_for(agent_ok, 60, "the daemon to reach the restarted agent")
    assert "restarting it" in (up_state / "up.log").read_text()
    with pytest.raises(StopIteration):
        next(run)
    assert not _alive(web)


def _api(base: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request(
        method,
        f"{base}{path}",
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
        verify=_TRUST[base],
        **kwargs,
    )
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer.json()


#: The client trust for each base address the API helpers call.
_TRUST: dict[str, ssl.SSLContext] = {}


def _task_done(base: str, token: str, task_id: str) -> None:
    def ended() -> bool:
        task = _api(base, token, "GET", f"/v1/admin/tasks/{task_id}")
        assert task["status"] != "failed", task
        return bool(task["status"] == "succeeded")

    wait_for(ended, 180, f"task {task_id}")


def _singbox_of(host_id: str) -> list[int]:
    """sing-box processes working in this host's gateway directory."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            is_singbox = entry.name.isdigit() and "sing-box" in argv
            if is_singbox and host_id in os.readlink(entry / "cwd"):
                found.append(int(entry.name))
    return found


def test_a_box_started_under_up_goes_through_the_socket_agent(
    up_state: Path, sim_internet: SimInternet, box_image: str
) -> None:
    """The whole start (daemon as cloudclaude → agent as root) with sing-box not root."""
    port, sock = free_port(), up_state / "ctl.sock"
    extra = {
        "CLOUDCLAUDE_AGENT__EGRESS_POOL": EGRESS_POOL,
        "CLOUDCLAUDE_EGRESS__DEFAULT_EXIT": sim_internet.direct_exit()["label"],
    }
    run = _run_up(up_state, up_state / "up.log", port, sock, extra_env=extra)
    output = next(run)
    match = re.search(r"first admin admin / (\S+)", output)
    assert match, output
    base = f"https://127.0.0.1:{port}"
    _TRUST[base] = local_ca(up_state)
    login = {"username": "admin", "password": match.group(1)}
    token = httpx.post(f"{base}/v1/auth/login", json=login, verify=_TRUST[base]).json()["token"]
    _api(base, token, "POST", "/v1/admin/egress-ips", json=sim_internet.direct_exit())
    user = _api(base, token, "POST", "/v1/admin/users", json={"username": "upbox"})
    host = _api(base, token, "POST", "/v1/admin/hosts", json={"user_id": user["id"], "disk_gb": 1})
    try:
        _task_done(base, token, host["task_id"])
        started = _api(base, token, "POST", f"/v1/admin/hosts/{host['id']}/start")
        _task_done(base, token, started["task_id"])
        assert _api(base, token, "GET", f"/v1/admin/hosts/{host['id']}")["status"] == "running"
        [singbox] = _singbox_of(host["id"])
        confined = proc_status(singbox)
        assert "0" not in confined["Uid"].split() and confined["NoNewPrivs"] == "1"
        # A backup as production makes it: the unprivileged daemon's pg_dump of the private
        # cluster and restic, the home through the root agent's socket (passed by SCM_RIGHTS).
        backup = ctl(sock, "backup", "create")
        assert backup.returncode == 0, backup.stderr
        assert "home 1/1" in backup.stdout and "succeeded" in backup.stdout, backup.stdout
    finally:
        gone = _api(base, token, "DELETE", f"/v1/admin/hosts/{host['id']}?purge=true")
        _task_done(base, token, gone["task_id"])
    assert _singbox_of(host["id"]) == []
    with pytest.raises(StopIteration):
        next(run)
