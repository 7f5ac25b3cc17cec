"""sd_notify (cloudclaude/app/systemd.py) against a real AF_UNIX datagram socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudclaude.app import systemd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with sock:
        yield sock


def test_datagram_arrives(notify_socket: socket.socket) -> None:
    assert systemd.notify("READY=1", "STATUS=x") is True
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=x"


def test_each_call_is_one_datagram(notify_socket: socket.socket) -> None:
    systemd.notify("READY=1")
    systemd.notify("STOPPING=1")
    assert notify_socket.recv(4096) == b"READY=1"
    assert notify_socket.recv(4096) == b"STOPPING=1"


def test_abstract_socket_address(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"cloudclaude-test-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1") is True
        assert sock.recv(4096) == b"READY=1"


def test_without_notify_socket_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False


def test_nobody_listening_returns_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "absent.sock"))
    assert systemd.notify("READY=1") is False
