"""``OpenPort``: a TCP socket made inside a box's network namespace, connected to its loopback.

Boxes have no routable address, so the SSH proxy and the web terminal reach sshd this way. The
namespace is opened by a held fd (not re-resolved by PID, which could be reused) and entered on a
one-shot thread, never a pooled worker thread: if switching back failed, no later work could run
in the box's namespace by accident. A socket keeps the namespace it was created in, so the
connect itself runs back in trio, cancellable.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

import trio

from agent import errors
from agent.ops.containers import Containers

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT_S = 5.0
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


def _netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def socket_in_netns(netns_fd: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new IPv4 socket in the namespace ``netns_fd``; the calling thread is switched back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        own_inode = os.fstat(own).st_ino
        _setns(netns_fd)
        try:
            sock = socket.socket(socket.AF_INET, kind)
        finally:
            _setns(own)
            if _netns_inode() != own_inode:
                raise RuntimeError("thread did not return to its own network namespace")
    finally:
        os.close(own)
    return sock


def on_fresh_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a new thread that ends with it, and return its result."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            failure.append(exc)

    thread = threading.Thread(target=target, name="cloudclaude-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def socket_in_box(
    containers: Containers, host_id: str, kind: int = socket.SOCK_STREAM
) -> trio.socket.SocketType:
    """A new unconnected IPv4 socket inside the running box ``host_id``'s network namespace."""
    info = await containers.require(host_id, running=True)
    pid = int(info["State"]["Pid"])
    netns = _open_netns(pid, host_id)
    try:
        # The fd pins the namespace; make sure it is still this container's (PID reuse).
        again = await containers.require(host_id, running=True)
        if int(again["State"]["Pid"]) != pid:
            raise errors.AgentError(errors.HOST_NOT_RUNNING, f"host {host_id} restarted")
        return await _socket_in(netns, kind)
    finally:
        os.close(netns)


async def socket_in_process(pid: int, kind: int = socket.SOCK_STREAM) -> trio.socket.SocketType:
    """A new unconnected IPv4 socket in the network namespace of process ``pid``."""
    netns = _open_netns(pid, f"process {pid}")
    try:
        return await _socket_in(netns, kind)
    finally:
        os.close(netns)


def _open_netns(pid: int, what: str) -> int:
    try:
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise errors.AgentError(errors.HOST_NOT_RUNNING, f"{what} just stopped") from exc


async def _socket_in(netns: int, kind: int) -> trio.socket.SocketType:
    plain = await trio.to_thread.run_sync(on_fresh_thread, lambda: socket_in_netns(netns, kind))
    return trio.socket.from_stdlib_socket(plain)


async def open_port(containers: Containers, host_id: str, port: int) -> socket.socket:
    """A connected socket to ``127.0.0.1:port`` inside the running box ``host_id``."""
    if not 1 <= port <= 65535:
        raise errors.AgentError(errors.VALIDATION_FAILED, f"port {port} is out of range")
    sock = await socket_in_box(containers, host_id)
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            await sock.connect(("127.0.0.1", port))
    except (OSError, trio.TooSlowError) as exc:
        sock.close()
        raise errors.AgentError(
            errors.PORT_UNREACHABLE, f"nothing answers on port {port} in host {host_id}: {exc}"
        ) from exc
    return socket.socket(fileno=sock.detach())
