"""A Debian 12 system with systemd as PID 1 in ``systemd-nspawn``, for the package test.

The root comes from ``debootstrap`` with the package's dependencies included (so nothing needs
the network once it boots with ``--private-network``, its own network namespace). It is cached
under ``build/deb-test/root-<key>``, keyed by its inputs; each run boots an overlay of it (the
cache stays pristine) and removes the overlay, its mount and the container, also on failure.
Flags as in DESIGN.md section 13, except ``--bind=/sys/fs/cgroup``: with the machine's cgroup v1
tree bound in, the container's systemd cannot track its services' processes (PostgreSQL's start
hangs on "New main PID does not belong to service"). Without it dockerd still runs inside
(storage driver vfs on the overlay root), which the daemon needs; running a box's container
would need that bind and is not attempted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "deb-test"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
#: systemd and the tools the test drives, plus every dependency of the package.
INCLUDES = (
    "ca-certificates",
    "curl",
    "dbus",
    "debootstrap",
    "docker.io",
    "e2fsprogs",
    "iproute2",
    "iptables",
    "nftables",
    "openssh-client",
    "openssl",
    "passwd",
    "postgresql",
    "procps",
    "python3",
    "restic",
    "systemd-sysv",
    "tar",
    "util-linux",
)
PATH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def root_key() -> str:
    text = f"{SUITE}|minbase|{','.join(INCLUDES)}|{MIRROR}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_root() -> Path:
    """The debootstrapped root for ``INCLUDES``, made once (about two minutes) and kept."""
    root = CACHE / f"root-{root_key()}"
    if (root / "etc" / "os-release").is_file():
        return root
    scratch = root.with_name(root.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDES)}",
            SUITE,
            str(scratch),
            MIRROR,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(f"debootstrap failed:\n{(done.stdout + done.stderr)[-3000:]}")
    scratch.rename(root)
    return root


class System:
    """A booted container; ``run`` executes a command inside it (all its namespaces)."""

    def __init__(self, root: Path, leader: int) -> None:
        self.root = root
        self.leader = leader

    def run(
        self, *argv: str, check: bool = True, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i"]
            + [f"{k}={v}" for k, v in PATH_ENV.items()]
            + list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def sh(self, script: str, check: bool = True) -> str:
        return self.run("/bin/sh", "-c", script, check=check).stdout


def _leader(nspawn: subprocess.Popen[bytes], deadline: float) -> int:
    """PID (on this machine) of the container's systemd: a descendant of nspawn named systemd."""
    while time.monotonic() < deadline:
        if nspawn.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited {nspawn.returncode}")
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        todo = list(children.get(nspawn.pid, []))
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return pid
            todo.extend(children.get(pid, []))
        time.sleep(0.2)
    raise RuntimeError("the container's systemd did not appear")


@contextlib.contextmanager
def booted(prepare: Sequence[tuple[str, str]] = (), log: Path | None = None) -> Iterator[System]:
    """Boot an overlay of the cached root; ``prepare`` is (path, text) files written first."""
    lower = cached_root()
    scratch = Path(tempfile.mkdtemp(prefix="cc-nspawn-", dir="/var/tmp"))
    merged = scratch / "root"
    for name in ("upper", "work", "root"):
        (scratch / name).mkdir()
    mounted = False
    nspawn: subprocess.Popen[bytes] | None = None
    log_file = (log or scratch / "console.log").open("wb")
    try:
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={lower},upperdir={scratch / 'upper'},workdir={scratch / 'work'}",
             str(merged)],
            check=True,
        )  # fmt: skip
        mounted = True
        for path, text in prepare:
            target = merged / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "--register=no",
                "--keep-unit",
                "-q",
                "-b",
                "-D",
                str(merged),
                f"--machine=ccdeb{os.getpid()}",
                "--private-network",
                "--capability=all",
                "--system-call-filter=add_key keyctl request_key",
                "--console=passive",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        system = System(merged, _leader(nspawn, time.monotonic() + 60))
        state = ""
        for _ in range(360):
            state = system.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        if state not in ("running", "degraded"):
            jobs = system.run("systemctl", "list-jobs", "--no-pager", check=False).stdout
            raise RuntimeError(f"container did not boot: {state}\n{jobs}")
        yield system
    finally:
        if nspawn is not None:
            nspawn.terminate()  # nspawn asks the container's systemd to power off
            try:
                nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                nspawn.kill()
                nspawn.wait()
        log_file.close()
        if mounted:
            subprocess.run(["umount", "-l", str(merged)], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
