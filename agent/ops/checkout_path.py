"""Which paths a laptop's checkout may be mounted at inside a box: checked before anything runs.

The path comes from the laptop (the checkout's own absolute path), so it is hostile input. It
must be absolute and normalised, bounded in length and depth, and may neither be nor lie under
a directory the box's system lives in: a mount there could shadow the programs and settings
root in the box and its sessions run. ``/tmp`` is refused too (box tools expect it to be
theirs and it is a tmpfs the box can fill). The box user's home itself is refused (its volume
would vanish behind the mount), but a path under it is a plain directory of the user's and
allowed, as are ``/home/<other>``, ``/Users/...``, ``/src`` and the like.

This check is by name only; the walk in the box (``checkout_ns``) refuses symlinks and
non-directories on the way, which no name can show.
"""

from __future__ import annotations

from agent import errors
from agent.config import BOX_HOME

MAX_PATH = 1024
MAX_DEPTH = 32
#: Trees of the box's system: the path may be neither one of them nor under one.
SYSTEM_TREES = (
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/run",
    "/var",
    "/tmp",  # noqa: S108 (a name refused, not a file used)
    "/opt",
    "/root",
    "/srv",
    "/mnt",
    "/media",
    "/snap",
)
#: Paths that may not be mounted over themselves (what lies under them is fine).
NOT_ITSELF = ("/", "/home", "/Users", BOX_HOME)


def refuse(why: str) -> errors.AgentError:
    return errors.AgentError(errors.MOUNT_PATH_REFUSED, why)


def check_mount_path(path: str) -> str:
    """``path`` when a checkout may be mounted there; else ``MOUNT_PATH_REFUSED`` says why."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise refuse("the mount path must be absolute")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise refuse("the mount path must be valid UTF-8") from None
    if size > MAX_PATH:
        raise refuse(f"the mount path must be at most {MAX_PATH} bytes")
    if not path.isprintable():
        raise refuse("the mount path must be printable (no NUL, newline or control character)")
    parts = path.split("/")[1:]
    if path == "/" or "" in parts or "." in parts or ".." in parts:
        raise refuse("the mount path must be normalised (no '.', '..', '//' or trailing '/')")
    if len(parts) > MAX_DEPTH:
        raise refuse(f"the mount path must be at most {MAX_DEPTH} directories deep")
    for tree in SYSTEM_TREES:
        if path == tree or path.startswith(tree + "/"):
            raise refuse(f"{tree} belongs to the box's system; a checkout is not mounted there")
    if path in NOT_ITSELF:
        raise refuse(f"{path} itself cannot be shadowed by a checkout")
    return path
