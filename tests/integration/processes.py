"""Helpers for tests that run the real daemon as a child process."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def healthy(base_url: str, verify: ssl.SSLContext | bool = True) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def daemon(args: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cloudclaude ARGS``; on the way out make sure it is gone (SIGKILL at worst).

    The SSH proxy listens on a loopback port of its own unless ``env`` says otherwise, so
    daemons of several tests (and a real one on :2222) never collide. Tests run as root, so
    ``run`` gets the development embedded agent unless ``env`` says otherwise (``up`` runs
    the real layout: its daemon is unprivileged and uses the agent's socket)."""
    quiet_ssh = {
        "CLOUDCLAUDE_SSH__HOST": "127.0.0.1",
        "CLOUDCLAUDE_SSH__PORT": "0",
        "CLOUDCLAUDE_AGENT__MODE": "embedded",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "cloudclaude"), *args],
            env={**os.environ, **quiet_ssh, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns once the process is gone."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ctl(
    socket_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cloudclaudectl"), "--socket", str(socket_path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Runs under /usr/bin/python3 (the venv's interpreter may sit where `nobody` cannot read it):
# connect, send one frame, print the first frame that comes back.
_FRAME_CHILD = textwrap.dedent(
    """
    import socket, struct, sys
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    body = sys.argv[2].encode()
    try:
        s.sendall(struct.pack(">I", len(body)) + body)
    except OSError:
        pass
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    n = struct.unpack(">I", data[:4])[0]
    print(data[4:4 + n].decode())
    """
)


async def frame_exchange_as(user: str | None, path: Path, request: dict[str, Any]) -> Any:
    """Send ``request`` as one frame from a child process running as ``user``; the reply."""
    result = await trio.run_process(
        ["/usr/bin/python3", "-c", _FRAME_CHILD, str(path), json.dumps(request)],
        user=user,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def proc_status(pid: int | str = "self") -> dict[str, str]:
    """``/proc/<pid>/status`` as a mapping (``Uid``, ``CapEff``, ``VmRSS``, …)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def rss() -> int:
    """This process's resident memory (an embedded agent or daemon runs in it)."""
    return int(proc_status()["VmRSS"].split()[0]) * 1024
