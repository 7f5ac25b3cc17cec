"""The real daemon process: health, ctl, login, reload on SIGHUP, drain on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import ctl, daemon, free_port, healthy, wait_for


@pytest.fixture
def notify_socket(state_dir: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(state_dir / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def _datagrams(sock: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode())
        except TimeoutError:
            return found


def test_daemon_serves_reloads_and_drains(
    database_url: str, state_dir: Path, notify_socket: socket.socket
) -> None:
    port = free_port()
    ctl_sock = state_dir / "ctl.sock"
    config = state_dir / "cloudclaude.toml"
    config.write_text('[log]\nlevel = "info"\n')
    env = {
        "CLOUDCLAUDE_DATABASE__URL": database_url,
        "CLOUDCLAUDE_STATE_DIR": str(state_dir),
        "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
        "CLOUDCLAUDE_WEB__PORT": str(port),
        "CLOUDCLAUDE_CTL__SOCKET": str(ctl_sock),
        "CLOUDCLAUDE_AUTH__ARGON2_TIME_COST": "1",
        "CLOUDCLAUDE_AUTH__ARGON2_MEMORY_KIB": "8192",
        "CLOUDCLAUDE_LOG__FORMAT": "json",
        "NOTIFY_SOCKET": str(state_dir / "notify.sock"),
    }
    base = f"https://127.0.0.1:{port}"
    log = state_dir / "daemon.log"
    ca = state_dir / "tls" / "ca.pem"  # the local CA the daemon makes on first start

    def serving() -> bool:
        return ca.exists() and healthy(base, ssl.create_default_context(cafile=str(ca)))

    with daemon(["run", "--config", str(config)], env, log) as proc:
        wait_for(lambda: serving() or proc.poll() is not None, 60, "/healthz")
        assert proc.poll() is None, log.read_text()
        assert any("READY=1" in d for d in _datagrams(notify_socket))

        status = ctl(ctl_sock, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["components"] == {
            "llm_gateway": "running",
            "tasks": "running",
            "reconciler": "running",
            "expiry": "running",
            "idle": "running",
            "host_stats": "running",
            "egress": "running",
            "revocation": "running",
            "backups": "running",
            "web": "running",
            "ssh": "running",
            "ctl": "running",
        }
        assert report["database"]["status"] == "ok"
        assert report["agent"]["status"] == "ok"

        added = ctl(ctl_sock, "users", "add", "mona", "--password-stdin", stdin="mona-password\n")
        assert added.returncode == 0, added.stderr
        login = httpx.post(
            f"{base}/v1/auth/login",
            json={"username": "mona", "password": "mona-password"},
            verify=ssl.create_default_context(cafile=str(ca)),
        )
        assert login.status_code == 200
        assert login.json()["role"] == "user"

        config.write_text('[log]\nlevel = "warning"\n[supervisor]\ngrace_s = 3.0\n')
        proc.send_signal(signal.SIGHUP)

        def reloaded() -> bool:
            return any(
                json.loads(line).get("event") == "settings_reloaded"
                for line in log.read_text().splitlines()
                if line.startswith("{")
            )

        wait_for(reloaded, 20, "settings_reloaded in the log")
        event = next(
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith("{") and "settings_reloaded" in line
        )
        assert event["applied"] == ["log.level"]
        assert event["needs_restart"] == ["supervisor.grace_s"]
        assert serving()  # still serving after the reload

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    assert any("STOPPING=1" in d for d in _datagrams(notify_socket))
    assert not ctl_sock.exists()


def test_ctl_reports_an_unreachable_daemon(state_dir: Path) -> None:
    result = ctl(state_dir / "absent.sock", "status")
    assert result.returncode == 3
    assert "SYSTEM_009" in result.stderr


def test_daemon_exits_nonzero_when_the_database_is_unreachable(state_dir: Path) -> None:
    env = {
        "CLOUDCLAUDE_DATABASE__URL": f"postgresql:///nope?host={state_dir}&port=1",
        "CLOUDCLAUDE_STATE_DIR": str(state_dir),
        "CLOUDCLAUDE_DATABASE__CONNECT_TIMEOUT_S": "2",
        "CLOUDCLAUDE_WEB__PORT": str(free_port()),
        "CLOUDCLAUDE_CTL__SOCKET": str(state_dir / "ctl.sock"),
    }
    log = state_dir / "daemon.log"
    with daemon(["run"], env, log) as proc:
        assert proc.wait(60) == 1
    text = log.read_text()
    assert "startup_failed" in text
    assert "Traceback" not in text
