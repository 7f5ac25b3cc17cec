"""The Engine API client's caps against a fake dockerd on a Unix socket: a reply that never
comes, one that never ends, a progress line without end and exec output without end each end
in their registry code (or, for exec with ``overflow="truncate"``, a cut result)."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from agent import errors
from agent.config import DockerLimits
from agent.ops.docker import Docker

LIMITS = DockerLimits(
    call_s=0.5, build_s=0.5, exec_s=0.5, reply_max_bytes=4096, line_max_bytes=1024,
    exec_output_max_bytes=1024,
)  # fmt: skip


async def _head(stream: trio.SocketStream) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return ""
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


async def _endless(stream: trio.SocketStream, piece: bytes) -> None:
    while True:
        await stream.send_all(piece)


async def _answer(stream: trio.SocketStream) -> None:
    """One request: what the path asks for (connection closed after it)."""
    line = await _head(stream)
    method, path = line.split()[:2] if line else ("", "")
    ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    if path.endswith("/slow/json"):
        await trio.sleep_forever()
    elif path.endswith("/big/json"):
        await stream.send_all(f"{ok}Transfer-Encoding: chunked\r\n\r\n".encode())
        await _endless(stream, b"400\r\n" + b" " * 1024 + b"\r\n")
    elif path.endswith("/broken/json"):
        await stream.send_all(f"{ok}Transfer-Encoding: chunked\r\n\r\n".encode())
        await stream.send_all(b"2\r\n{}\n\rzz")
    elif path.endswith("/build"):
        await stream.send_all(f"{ok}Transfer-Encoding: chunked\r\n\r\n".encode())
        await stream.send_all(b'd\r\n{"stream":1}\n\r\n')
        await _endless(stream, b"400\r\n" + b"x" * 1024 + b"\r\n")
    elif method == "POST" and path.endswith("/exec"):
        body = json.dumps({"Id": "e1"}).encode()
        await stream.send_all(f"{ok}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    elif path.endswith("/exec/e1/start"):
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
        )
        await _endless(stream, struct.pack(">BxxxI", 1, 512) + b"y" * 512)
    elif path.endswith("/exec/e1/json"):
        body = json.dumps({"Running": False, "Pid": 0, "ExitCode": 0}).encode()
        await stream.send_all(f"{ok}Content-Length: {len(body)}\r\n\r\n".encode() + body)


@pytest.fixture
async def docker(tmp_path: Path) -> AsyncIterator[Docker]:
    path = str(tmp_path / "docker.sock")
    listener = trio.socket.socket(trio.socket.AF_UNIX)
    await listener.bind(path)
    listener.listen()

    async def serve() -> None:
        async with trio.open_nursery() as handlers:
            while True:
                sock, _ = await listener.accept()
                stream = trio.SocketStream(sock)

                async def handle(stream: trio.SocketStream = stream) -> None:
                    try:
                        await _answer(stream)
                    except trio.BrokenResourceError:
                        pass  # the client gave up, as it should
                    finally:
                        await stream.aclose()

                handlers.start_soon(handle)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        client = Docker(path, LIMITS)
        try:
            yield client
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
            listener.close()


async def test_an_answer_that_never_comes_ends_at_the_deadline(docker: Docker) -> None:
    with pytest.raises(errors.AgentError) as late:
        await docker.inspect("slow")
    assert late.value.code == errors.DOCKER_TIMEOUT


async def test_an_answer_that_never_ends_is_cut_at_its_cap(docker: Docker) -> None:
    with pytest.raises(errors.AgentError) as big:
        await docker.inspect("big")
    assert big.value.code == errors.DOCKER_REPLY_TOO_LARGE


async def test_a_progress_line_without_end_is_cut_at_its_cap(docker: Docker) -> None:
    seen = []
    with pytest.raises(errors.AgentError) as long:
        async for event in docker.json_lines("POST", "/build"):
            seen.append(event)
    assert seen == [{"stream": 1}] and long.value.code == errors.DOCKER_REPLY_TOO_LARGE


async def test_exec_output_without_end_fails_or_is_truncated(docker: Docker) -> None:
    with pytest.raises(errors.AgentError) as flood:
        await docker.exec("box", ["sh", "-c", "true"])
    assert flood.value.code == errors.BOX_EXEC_OUTPUT_TOO_LARGE
    cut = await docker.exec("box", ["sh", "-c", "true"], overflow="truncate")
    assert cut.truncated and cut.stdout == b"y" * 1024 and cut.exit_code == -1


async def test_an_answer_broken_off_midway_gets_a_code(docker: Docker) -> None:
    with pytest.raises(errors.AgentError) as broken:
        await docker.inspect("broken")
    assert broken.value.code == errors.DOCKER_UNAVAILABLE
