"""sing-box processes: one per gateway, started in its netns, outliving the agent.

A process runs in its own session (``ip netns exec`` execs sing-box in place, so the PID is
sing-box's), which keeps it alive across an agent restart (systemd ``KillMode=process``); the
agent then adopts it by PID, checking ``/proc/<pid>/cmdline`` names the gateway's config so a
reused PID is never mistaken for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from agent.errors import AgentError

SETUP_FAILED = "NET_003"


def start(binary: Path, netns: str, config: Path, log: Path) -> int:
    """Start sing-box for ``config`` in ``netns``; its output goes to ``log``."""
    with open(log, "ab") as out:
        try:
            process = subprocess.Popen(
                ["ip", "netns", "exec", netns, str(binary), "run", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=config.parent,
                start_new_session=True,
            )
        except OSError as exc:
            raise AgentError(SETUP_FAILED, f"cannot start sing-box: {exc}") from exc
    return process.pid


def alive(pid: int, config: Path) -> bool:
    """``pid`` is a live (not zombie) sing-box running ``config``; reaps it when it died."""
    if not running(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config).encode() in cmdline


def running(pid: int) -> bool:
    """``pid`` is a live process, not a zombie (a child of ours that died is reaped here)."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError):  # adopted after an agent restart: init reaps
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def stop(pid: int, config: Path, grace_s: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s`` (blocking: run it on a worker thread)."""
    if not alive(pid, config):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid, config):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while alive(pid, config):
        time.sleep(0.01)


def running_for(directory: Path) -> dict[int, Path]:
    """Every sing-box whose config lies under ``directory``, by PID (leftovers included)."""
    found: dict[int, Path] = {}
    prefix = str(directory).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in argv and b"-c" in argv:
            config = argv[argv.index(b"-c") + 1] if argv.index(b"-c") + 1 < len(argv) else b""
            if config.startswith(prefix):
                pid = int(entry.name)
                if alive(pid, Path(config.decode())):
                    found[pid] = Path(config.decode())
    return found
