"""sing-box processes: one per gateway, confined, started in its netns, outliving the agent.

Each runs as its gateway's own unprivileged uid and gid (``GatewayLayout.singbox_id``) with no
supplementary groups, no_new_privs, and one capability, CAP_NET_ADMIN (its tun and its sockets'
SO_MARK need it), in every set, bounding and ambient included. It holds it in the user namespace
owning its gateway netns (``owned_netns``), where it reaches that netns alone. The chain
``ip netns exec`` → ``confine.py`` (as root: a tun node it may open, that user namespace, the
drop) → sing-box execs in place at each step, so the PID is sing-box's.

It reads no secret by path. Its config (exit credentials) is a root-only file (0600) handed
over as its stdin (``-c stdin``); its working directory is the gateway's directory (root:its
gid, 0750), and the allowlist rule-set is read through it (``/proc/self/cwd/…``), so the state
directory above stays closed to it. Its environment is only ``PATH`` and ``LC_ALL`` (an
embedded agent's holds the daemon's). No other uid, another sing-box included, reads any of it.

A process runs in its own session, which keeps it alive across an agent restart (systemd
``KillMode=process``); the agent then adopts it by PID, checking that it still runs sing-box in
the gateway's directory, so a reused PID is never mistaken for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.egress.records import CONFIG_NAME
from agent.errors import AgentError

SETUP_FAILED = "NET_003"
#: How sing-box is run: colourless log lines, the config read from stdin.
SINGBOX_ARGS = ("run", "--disable-color", "-c", "stdin")
#: Where the process finds its allowlist: its working directory is the gateway's directory.
IN_OWN_DIRECTORY = "/proc/self/cwd"
#: The whole environment sing-box gets (a set ``LC_ALL`` keeps Python's helper from adding one).
ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
}
CONFINE = Path(__file__).with_name("confine.py")
#: How long a SIGKILLed sing-box may take to go (one stuck in the kernel is left, not waited on).
KILL_WAIT_S = 5.0
CAP_NET_ADMIN = 1 << 12
CAP_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def argv(binary: Path, netns: str, ident: int) -> list[str]:
    """The command line starting sing-box confined as uid and gid ``ident`` in ``netns``."""
    return confined(netns, ident, [str(binary), *SINGBOX_ARGS])


def confined(netns: str, ident: int, command: list[str]) -> list[str]:
    """``command`` run in ``netns`` confined as a gateway's sing-box is (``confine.py``)."""
    helper = [sys.executable, "-I", str(CONFINE), str(ident), "--"]
    return ["ip", "netns", "exec", netns, *helper, *command]


def start(binary: Path, netns: str, config: Path, log: Path, ident: int) -> int:
    """Start sing-box for ``config`` in ``netns`` as ``ident``; its output goes to ``log``."""
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            with open(config, "rb") as config_file:
                process = subprocess.Popen(
                    argv(binary, netns, ident),
                    stdin=config_file,
                    stdout=out,
                    stderr=out,
                    cwd=config.parent,
                    env=ENVIRONMENT,
                    start_new_session=True,
                )
        finally:
            os.close(out)
    except OSError as exc:
        raise AgentError(SETUP_FAILED, f"cannot start sing-box: {exc}") from exc
    return process.pid


def check_confined(pid: int, ident: int) -> None:
    """``/proc`` shows ``pid`` as confined: uid and gid ``ident``, no groups, no capability but
    CAP_NET_ADMIN in any set, no_new_privs, a user namespace of its own. Whatever went wrong in
    ``confine.py`` (or a systemd sandbox too tight for it), a gateway never runs unconfined."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        raise AgentError(SETUP_FAILED, f"sing-box (pid {pid}) is gone: {exc}") from exc
    seen = {key: " ".join(value.split()) for key, _, value in (x.partition(":") for x in lines)}
    ids = " ".join([str(ident)] * 4)
    expected = {"Uid": ids, "Gid": ids, "Groups": "", "NoNewPrivs": "1"}
    wrong = [key for key, value in expected.items() if seen.get(key) != value]
    wrong += [key for key in CAP_SETS if int(seen.get(key) or "f", 16) & ~CAP_NET_ADMIN]
    with contextlib.suppress(OSError):  # its capability must not reach the host's network
        if os.stat(f"/proc/{pid}/ns/user").st_ino == os.stat("/proc/self/ns/user").st_ino:
            wrong.append("user namespace")
            seen["user namespace"] = "the host's"
    if wrong:
        shown = ", ".join(f"{key} {seen.get(key, '?')}" for key in wrong)
        raise AgentError(SETUP_FAILED, f"sing-box (pid {pid}) is not confined: {shown}")


def alive(pid: int, config: Path) -> bool:
    """``pid`` is a live (not zombie) sing-box of ``config``'s gateway; reaps it when it died."""
    if not running(pid):
        return False
    found = _sing_box_dir(pid)
    return found is not None and found == os.path.realpath(config.parent)


def _sing_box_dir(pid: int) -> str | None:
    """The working directory of ``pid`` if it runs sing-box the way the agent starts it.

    One an agent started before confinement (as root, ``-c <config>``) counts too: it is adopted
    as it is, and if it dies its gateway stays closed (its restart fails the confinement check)
    until its host starts again on a new gateway."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
    except OSError:
        return None
    ours = tuple(argv[-len(SINGBOX_ARGS) :]) == tuple(a.encode() for a in SINGBOX_ARGS)
    legacy = b"run" in argv and b"-c" in argv and argv[-1].endswith(f"/{CONFIG_NAME}".encode())
    return cwd if ours or legacy else None


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
    deadline = time.monotonic() + KILL_WAIT_S
    while alive(pid, config) and time.monotonic() < deadline:
        time.sleep(0.01)


def running_for(directory: Path) -> dict[int, Path]:
    """Every sing-box whose gateway directory lies under ``directory``, by PID, with its config
    (leftovers included)."""
    found: dict[int, Path] = {}
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        where = _sing_box_dir(int(entry.name))
        if where is not None and where.startswith(prefix) and running(int(entry.name)):
            found[int(entry.name)] = Path(where) / CONFIG_NAME
    return found
