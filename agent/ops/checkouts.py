"""``MountCheckout``/``UnmountCheckout``: a laptop's checkout mounted into a running box.

The box has no CAP_SYS_ADMIN, so the mount is made outside it, in four steps:

1. The agent (root) opens ``/dev/fuse`` and makes a detached FUSE mount on it with the new
   mount API (``fsopen``/``fsconfig``/``fsmount``; never attached anywhere on the host):
   ``allow_other``, ``default_permissions``, nosuid, nodev.
2. sshfs serves it without root: ``-o passive`` on the passed socket (stdin/stdout, the SFTP
   server is at the other end) and the mount's ``/dev/fuse`` descriptor as ``/dev/fd/N``; run
   through ``unshare --net`` (an empty network namespace) and ``setpriv`` to a uid of its own
   (picked at random per mount, so no sshfs can signal or trace another), no groups, no
   capabilities, no_new_privs. Files show as the box user's (``-o uid,gid``).
3. ``checkout_ns`` (our own Python, a separate single-threaded process) enters the box's mount
   namespace, makes the mount point safely and moves the mount onto it.
4. The agent drops its copies of the descriptors: sshfs holds the only one of ``/dev/fuse``.

sshfs is the agent's child (reaped by ``run``) but not bound to it: like sing-box it outlives an
agent restart, and the mount keeps working. It ends by itself when its stream ends (the caller
closes the channel) or when the mount goes (an unmount, or the box stopping: the mount dies
with the box's namespace). Unmount, stop and remove also stop the sshfs this agent started. A
new mount at the path of a dead one (a dropped connection) replaces it instead of stacking.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from agent import errors, logconfig
from agent.config import BOX_HOME
from agent.ops import checkout_ns
from agent.ops.checkout_path import check_mount_path
from agent.ops.containers import Containers

log = logconfig.get("agent")
#: The box user's uid and gid (``BOX_UID`` in ``image/Dockerfile``).
BOX_UID = 1000
#: Each sshfs runs as a uid and gid picked at random here: no passwd entry, below sing-box's
#: range (``egress.layout.SINGBOX_ID_BASE``), where systemd allocates nothing.
SSHFS_ID_BASE, SSHFS_ID_SPAN = 0x76000000, 0x01000000
NS_DEADLINE_S = 20.0
SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 430, 431, 432
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 0, 1, 6
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x2, 0x4
NS_SCRIPT = Path(checkout_ns.__file__)
_libc = ctypes.CDLL(None, use_errno=True)


def _syscall(number: int, *args: object) -> int:
    result = int(_libc.syscall(number, *args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def fuse_mount(fuse_fd: int) -> int:
    """A detached FUSE mount served through ``fuse_fd``; its mount descriptor."""
    fs = _syscall(SYS_FSOPEN, b"fuse", FSOPEN_CLOEXEC)
    try:
        strings = {
            "source": checkout_ns.SOURCE,
            "subtype": checkout_ns.FSTYPE.removeprefix("fuse."),
            "fd": str(fuse_fd),
            "rootmode": "40000",
            "user_id": str(BOX_UID),
            "group_id": str(BOX_UID),
        }
        for key, value in strings.items():
            _syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_STRING, key.encode(), value.encode(), 0)
        for flag in ("allow_other", "default_permissions"):
            _syscall(SYS_FSCONFIG, fs, FSCONFIG_SET_FLAG, flag.encode(), None, 0)
        _syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0)
        return _syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
    finally:
        os.close(fs)


def sshfs_argv(ident: int, fuse_fd: int) -> list[str]:
    """sshfs confined: empty netns, uid and gid ``ident``, no caps, serving ``fuse_fd``.

    ``no_contain_symlinks``: Debian's sshfs hides every symlink with ``..`` in it, which breaks
    a checkout's own relative links; the laptop's SFTP server confines links, and a link the box
    reads resolves in the box."""
    return [
        *("unshare", "--net", "--"),
        *("setpriv", f"--reuid={ident}", f"--regid={ident}", "--clear-groups"),
        *("--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"),
        *("sshfs", "-f", "-o", f"passive,uid={BOX_UID},gid={BOX_UID},max_conns=1"),
        *("-o", "no_contain_symlinks"),
        *("checkout:", f"/dev/fd/{fuse_fd}"),
    ]


@attrs.define
class _Served:
    process: trio.Process
    host_id: str
    path: str


class Checkouts:
    """The checkout mounts this agent made, by host: their sshfs processes."""

    def __init__(self, containers: Containers) -> None:
        self._containers = containers
        self._served: list[_Served] = []
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reap each sshfs when it ends, for as long as the agent serves."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def mount(self, host_id: str, path: str, passed: Callable[[], socket.socket]) -> int:
        """Mount the SFTP stream in the passed socket at ``path`` in the running box; sshfs's
        pid. The path is checked first, then the container (this agent's own), then the
        socket."""
        check_mount_path(path)
        info = await self._containers.require(host_id, running=True)
        sock = passed()
        pid = int(info["State"]["Pid"])
        ns = _open_ns(pid, host_id)
        try:
            again = await self._containers.require(host_id, running=True)
            if int(again["State"]["Pid"]) != pid:  # the fd pins the namespace: still this box's?
                raise errors.AgentError(errors.HOST_NOT_RUNNING, f"host {host_id} restarted")
            return await self._mount_in(ns, host_id, path, sock)
        finally:
            os.close(ns)

    async def _mount_in(self, ns: int, host_id: str, path: str, sock: socket.socket) -> int:
        try:
            fuse = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise errors.AgentError(errors.MOUNT_FAILED, f"/dev/fuse: {exc}") from exc
        process: trio.Process | None = None
        try:
            try:
                tree = fuse_mount(fuse)
            except OSError as exc:
                raise errors.AgentError(errors.MOUNT_FAILED, f"the FUSE mount: {exc}") from exc
            try:
                process = await self._start_sshfs(fuse, sock)
                ids = [str(BOX_UID), str(BOX_UID), BOX_HOME]
                argv = ["mount", str(ns), path, str(tree), *ids]
                await _in_namespace(argv, (ns, tree))
            finally:
                os.close(tree)  # in the box now (or dropped with its mount)
        except BaseException:
            if process is not None:
                with trio.CancelScope(shield=True):
                    await _stop(process)
            raise
        finally:
            os.close(fuse)
        self._served.append(_Served(process, host_id, path))
        log.info("checkout_mounted", host_id=host_id, path=path, sshfs_pid=process.pid)
        return process.pid

    async def _start_sshfs(self, fuse: int, sock: socket.socket) -> trio.Process:
        if self._nursery is None:
            raise errors.AgentError(errors.MOUNT_FAILED, "the agent is not serving mounts")
        ident = SSHFS_ID_BASE + secrets.randbelow(SSHFS_ID_SPAN)
        sock.setblocking(True)  # sshfs reads and writes it plainly
        try:
            process = await trio.lowlevel.open_process(
                sshfs_argv(ident, fuse),
                stdin=sock.fileno(),
                stdout=sock.fileno(),
                pass_fds=(fuse,),
            )
        except OSError as exc:
            raise errors.AgentError(errors.MOUNT_FAILED, f"sshfs could not start: {exc}") from exc
        self._nursery.start_soon(self._reap, process)
        return process

    async def _reap(self, process: trio.Process) -> None:
        await process.wait()
        self._served = [s for s in self._served if s.process is not process]

    async def unmount(self, host_id: str, path: str, sshfs_pid: int = 0) -> None:
        """Detach the checkout mount at ``path`` in the running box and stop its sshfs; with
        ``sshfs_pid``, only if no other sshfs of ours serves ``path`` now (a newer mount)."""
        check_mount_path(path)
        if sshfs_pid:
            here = [s for s in self._served if s.host_id == host_id and s.path == path]
            if any(s.process.pid != sshfs_pid for s in here):
                for served in here:
                    if served.process.pid == sshfs_pid:
                        await _stop(served.process)
                return
        info = await self._containers.require(host_id, running=True)
        ns = _open_ns(int(info["State"]["Pid"]), host_id)
        try:
            await _in_namespace(["unmount", str(ns), path], (ns,))
        finally:
            os.close(ns)
            await self.stop(host_id, path)

    async def stop(self, host_id: str, path: str | None = None) -> None:
        """Stop the sshfs this agent runs for ``host_id`` (at ``path``, or all of them)."""
        for served in list(self._served):
            if served.host_id == host_id and path in (None, served.path):
                await _stop(served.process)


async def _stop(process: trio.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)


def _open_ns(pid: int, host_id: str) -> int:
    try:
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise errors.AgentError(errors.HOST_NOT_RUNNING, f"host {host_id} just stopped") from exc


async def _in_namespace(argv: list[str], fds: tuple[int, ...]) -> None:
    """Run ``checkout_ns`` with ``fds``; its refusals become their codes."""
    command = [sys.executable, "-I", str(NS_SCRIPT), *argv]
    try:
        with trio.fail_after(NS_DEADLINE_S):
            done = await trio.run_process(command, pass_fds=fds, capture_stderr=True, check=False)
    except trio.TooSlowError as exc:
        raise errors.AgentError(errors.MOUNT_FAILED, "entering the box's namespace hung") from exc
    why = done.stderr.decode(errors="replace").strip()[-500:]
    if done.returncode == checkout_ns.REFUSED:
        raise errors.AgentError(errors.MOUNT_PATH_REFUSED, why)
    if done.returncode == checkout_ns.NOT_MOUNTED:
        raise errors.AgentError(errors.NOT_MOUNTED, why)
    if done.returncode != 0:
        raise errors.AgentError(errors.MOUNT_FAILED, f"in the box's namespace: {why}")
