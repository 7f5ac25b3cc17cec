"""The unprivileged system user the daemon runs as (``cloudclaude``), made when missing.

``systemd-sysusers`` with the packaged ``systemd/cloudclaude.sysusers`` where it exists (it
needs no running systemd), else the equivalent ``groupadd``/``useradd``. Both are idempotent.
"""

from __future__ import annotations

import grp
import pwd
import shutil
import subprocess
from pathlib import Path

import attrs

DAEMON_USER = "cloudclaude"
ADMIN_GROUP = "cloudclaude-admin"
SYSUSERS_FILE = Path(__file__).resolve().parents[2] / "systemd" / "cloudclaude.sysusers"


class UserError(Exception):
    """The daemon's user could not be made."""


@attrs.frozen(kw_only=True)
class DaemonUser:
    name: str
    uid: int
    gid: int
    #: Supplementary groups (``cloudclaude-admin``: the daemon hands its ctl socket to it).
    groups: tuple[int, ...]


def lookup(name: str = DAEMON_USER) -> DaemonUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = tuple(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)
    return DaemonUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)


def ensure() -> DaemonUser:
    """The daemon's user, its group and ``cloudclaude-admin``, created when missing."""
    found = lookup()
    if found is not None and _has_admin_group():
        return found
    sysusers = shutil.which("systemd-sysusers")
    if sysusers and SYSUSERS_FILE.is_file():
        _run([sysusers, str(SYSUSERS_FILE)])
    else:
        _fallback()
    made = lookup()
    if made is None:
        raise UserError(f"user {DAEMON_USER!r} is still missing after creating it")
    return made


def _has_admin_group() -> bool:
    try:
        return DAEMON_USER in grp.getgrnam(ADMIN_GROUP).gr_mem
    except KeyError:
        return False


def _fallback() -> None:
    """What the sysusers file says, with shadow-utils."""
    for group in (DAEMON_USER, ADMIN_GROUP):
        if not _group_exists(group):
            _run(["groupadd", "--system", group])
    if lookup() is None:
        _run(
            [
                "useradd",
                "--system",
                "--gid",
                DAEMON_USER,
                "--home-dir",
                "/var/lib/cloudclaude",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "cloudclaude daemon",
                DAEMON_USER,
            ]
        )
    _run(["usermod", "--append", "--groups", ADMIN_GROUP, DAEMON_USER])


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"{' '.join(argv)} failed: {done.stderr.strip()[:500]}")
