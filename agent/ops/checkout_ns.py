"""Enter a box's mount namespace and put a checkout mount in, or take one out: no exec there.

Run by ``checkouts`` as ``python -I checkout_ns.py mount NS_FD PATH MOUNT_FD UID GID HOME`` (or
``unmount NS_FD PATH``),
single-threaded (``setns`` into a mount namespace fails in a process with threads), standard
library only, never exec'ing anything once inside: root in the box can replace every program
there. Before it enters, it keeps a descriptor of its own ``/proc/<pid>`` on the host's procfs;
inside, it reads which mounts are checkout mounts from it (the box's ``/proc`` shows another
PID namespace) and finds each descriptor's mount there.

The path is walked one component at a time from the box's root with ``O_PATH | O_NOFOLLOW |
O_DIRECTORY``: a symlink, or a directory swapped for one by root in the box meanwhile, fails
instead of being followed, and nothing inside a FUSE mount is opened (a stalled sshfs would
block the walk). Missing directories are made 0755, owned by root, except the last one and
those under the box user's home (``HOME``), owned by the box user. The mount is moved onto the
last directory's descriptor; an unmount detaches the mount
whose root a descriptor holds (through ``/proc/<pid>/fd/N``), never a path resolved again.

Exit status: 0 done, 10 refused (a symlink, a file, inside another checkout), 11 nothing mounted
there, anything else failed; stderr says why.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

CLONE_NEWNS = 0x00020000
SYS_MOVE_MOUNT = 429
MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_EMPTY_PATH = 0x4, 0x40
MNT_DETACH = 2
#: The source name ``checkouts`` gives every checkout mount; root in the box cannot mount, so
#: a FUSE mount of that name in a box is one of ours.
SOURCE = "cloudclaude-checkout"
FSTYPE = "fuse.sshfs"
REFUSED, NOT_MOUNTED = 10, 11
WALK = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
libc = ctypes.CDLL(None, use_errno=True)


class Stop(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def _check(result: int, what: str) -> None:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def checkout_mounts(proc: int) -> set[int]:
    """Ids of the checkout mounts in this process's (current) mount namespace."""
    fd = os.open("mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
    with os.fdopen(fd) as info:
        found = set()
        for line in info:
            fields = line.split()
            tail = fields[fields.index("-") + 1 :]
            if tail[:2] == [FSTYPE, SOURCE]:
                found.add(int(fields[0]))
        return found


def mount_id(proc: int, fd: int) -> int:
    with open(f"fdinfo/{fd}", opener=lambda p, f: os.open(p, f, dir_fd=proc)) as info:
        for line in info:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise RuntimeError("no mnt_id in fdinfo")


def walk(proc: int, path: str, *, owner: tuple[int, int] | None, home: str = "") -> int:
    """A descriptor of ``path`` in the box; with ``owner``, missing directories are made."""
    ours = checkout_mounts(proc)
    names = path.split("/")[1:]
    fd = os.open("/", WALK)
    for index, name in enumerate(names):
        if mount_id(proc, fd) in ours:
            raise Stop(REFUSED, f"{path} lies inside another checkout mount")
        last = index == len(names) - 1
        try:
            child = os.open(name, WALK, dir_fd=fd)
        except FileNotFoundError:
            if owner is None:
                raise Stop(NOT_MOUNTED, f"{path} does not exist in the box") from None
            os.mkdir(name, 0o755, dir_fd=fd)
            made = "/" + "/".join(names[: index + 1])
            if last or (home and made.startswith(home + "/")):
                os.chown(name, *owner, dir_fd=fd, follow_symlinks=False)
            child = _open_step(name, fd, path)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise Stop(REFUSED, f"a part of {path} is a symlink or not a directory") from None
            raise
        os.close(fd)
        fd = child
    return fd


def _open_step(name: str, parent: int, path: str) -> int:
    try:
        return os.open(name, WALK, dir_fd=parent)
    except OSError:
        raise Stop(REFUSED, f"a part of {path} changed while it was made") from None


def do_mount(proc: int, path: str, tree: int, owner: tuple[int, int], home: str) -> None:
    target = walk(proc, path, owner=owner, home=home)
    if mount_id(proc, target) in checkout_mounts(proc):
        detach(proc, target)  # a dead mount left there (a dropped connection): replaced
        os.close(target)
        target = walk(proc, path, owner=owner, home=home)
    flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
    _check(libc.syscall(SYS_MOVE_MOUNT, tree, b"", target, b"", flags), "move_mount")


def do_unmount(proc: int, path: str) -> None:
    target = walk(proc, path, owner=None)
    if mount_id(proc, target) not in checkout_mounts(proc):
        raise Stop(NOT_MOUNTED, f"no checkout is mounted at {path}")
    detach(proc, target)


def detach(proc: int, target: int) -> None:
    """Lazily unmount the mount whose root ``target`` holds (the magic link, no path walk)."""
    fds = os.open("fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=proc)
    os.fchdir(fds)
    _check(libc.umount2(str(target).encode(), MNT_DETACH), "umount2")
    os.close(fds)


def main(argv: list[str]) -> int:
    action, ns, path = argv[0], int(argv[1]), argv[2]
    os.umask(0o022)
    proc = os.open(f"/proc/{os.getpid()}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _check(libc.setns(ns, CLONE_NEWNS), "setns")
    try:
        if action == "mount":
            do_mount(proc, path, int(argv[3]), (int(argv[4]), int(argv[5])), argv[6])
        elif action == "unmount":
            do_unmount(proc, path)
        else:
            raise Stop(2, f"unknown action {action!r}")
    except Stop as stop:
        print(stop, file=sys.stderr)
        return stop.status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
