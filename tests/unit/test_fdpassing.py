"""A socket crosses a Unix socket with its reply frame (SCM_RIGHTS), and bad frames fail."""

from __future__ import annotations

import os
import socket

import pytest
import trio

from agent.protocol.fdpassing import SocketHandoff, receive_frame_with_fds, send_frame_with_fd
from agent.protocol.framing import FrameTooLarge, IncompleteFrame


async def test_an_fd_arrives_with_its_frame_and_works() -> None:
    left, right = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    inner_a, inner_b = socket.socketpair()
    with left, right, inner_a, inner_b:
        await send_frame_with_fd(left, b'{"op": "port.opened"}', inner_a.fileno())
        body, fds = await receive_frame_with_fds(right, 1 << 20)
        assert body == b'{"op": "port.opened"}'
        assert len(fds) == 1
        with socket.socket(fileno=fds[0]) as passed:
            passed.sendall(b"through the passed fd")
            assert inner_b.recv(100) == b"through the passed fd"


async def test_a_clean_eof_is_none_and_a_cut_frame_an_error() -> None:
    left, right = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with right:
        left.close()
        assert await receive_frame_with_fds(right, 100) == (None, [])
    left, right = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with right:
        await left.send(b"\x00\x00\x00\x10{")
        left.close()
        with pytest.raises(IncompleteFrame):
            await receive_frame_with_fds(right, 100)


async def test_an_oversize_header_is_refused_and_its_fds_closed() -> None:
    left, right = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read_end, write_end = os.pipe()
    with left, right:
        await send_frame_with_fd(left, b"x" * 200, read_end)
        os.close(read_end)
        with pytest.raises(FrameTooLarge):
            await receive_frame_with_fds(right, 100)
    os.close(write_end)


def test_the_handoff_gives_each_socket_once() -> None:
    handoff = SocketHandoff()
    a, b = socket.socketpair()
    with a, b:
        handoff.put(7, a)
        assert handoff.take(7) is a
        assert handoff.take(7) is None
