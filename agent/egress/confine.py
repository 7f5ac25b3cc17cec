"""Start a command confined as a gateway's sing-box: the last step the agent runs as root.

Run by ``singbox_process`` as ``ip netns exec NS python -I confine.py ID -- COMMAND...``, in the
gateway netns, single-threaded, standard library only. In order:

1. ``/dev/net/tun``: where no udev makes it 0666 (these machines) the host's node is 0600 root,
   and the file mode is checked before any capability. In a mount namespace of its own (its
   mounts never reach the host) a tiny tmpfs on ``/dev/net`` holds one node of the same device,
   owned by ID, mode 0600. Making a tun still takes CAP_NET_ADMIN: the node only opens it.
2. The user namespace that owns the gateway netns (``plumbing`` makes one per gateway, mapping
   only ID): CAP_NET_ADMIN held there covers that netns alone. Held in the host's user
   namespace, it would reach the host's network too (a link pushed into PID 1's netns).
3. Uid, gid ID and no groups; CAP_NET_ADMIN as the only capability in every set (bounding and
   ambient included, so it survives the exec and nothing can be gained back); no_new_privs.
4. Exec the command in place (same PID).

Every failure exits non-zero before the command runs; the agent also checks the result in
``/proc`` (``singbox_process.check_confined``).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import stat
import sys

TUN = "/dev/net/tun"
CAP_NET_ADMIN = 12
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
NS_GET_USERNS = 0xB701
MS_NOSUID, MS_NOEXEC, MS_REC, MS_SLAVE = 0x2, 0x8, 0x4000, 0x80000
PR_SET_KEEPCAPS, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 8, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL = 47, 2, 4
CAPABILITY_VERSION_3 = 0x20080522
#: The one node fits in any tmpfs; the limits keep the mount from holding anything more.
TMPFS_OPTIONS = b"mode=0755,size=4k,nr_inodes=4"
libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit() or int(argv[0]) == 0:
        sys.exit("usage: confine.py ID -- COMMAND...")
    ident, command = int(argv[0]), argv[2:]
    private_tun(ident)
    enter_owning_user_namespace()
    drop_to(ident)
    os.execvp(command[0], command)  # noqa: S606 (argv as given: the agent built it)


def private_tun(ident: int) -> None:
    device = os.stat(TUN).st_rdev
    _check(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    _check(libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None), "make / a slave")
    options = MS_NOSUID | MS_NOEXEC
    _check(libc.mount(b"tmpfs", b"/dev/net", b"tmpfs", options, TMPFS_OPTIONS), "mount /dev/net")
    os.mknod(TUN, 0o600 | stat.S_IFCHR, device)
    os.chown(TUN, ident, ident)


def enter_owning_user_namespace() -> None:
    """Join the user namespace owning this netns (none to join for one the host's owns)."""
    net = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        owner = fcntl.ioctl(net, NS_GET_USERNS)
    finally:
        os.close(net)
    try:
        if os.fstat(owner).st_ino != os.stat("/proc/self/ns/user").st_ino:
            _check(libc.setns(owner, CLONE_NEWUSER), "enter the gateway's user namespace")
    finally:
        os.close(owner)


def drop_to(ident: int) -> None:
    """Become ``ident`` with CAP_NET_ADMIN alone, for good (it is in every set, and no more)."""
    _check(libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep capabilities across setuid")
    with open("/proc/sys/kernel/cap_last_cap") as text:
        last = int(text.read())
    for cap in range(last + 1):
        if cap != CAP_NET_ADMIN:
            _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    os.setgroups([])
    os.setresgid(ident, ident, ident)
    os.setresuid(ident, ident, ident)
    only = 1 << CAP_NET_ADMIN
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(only, only, only), _CapData(0, 0, 0))
    _check(libc.capset(ctypes.byref(header), data), "set capabilities")
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient")
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0), "raise ambient")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")


def _check(result: int, what: str) -> None:
    if result != 0:
        sys.exit(f"confine: cannot {what}: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    main(sys.argv[1:])
