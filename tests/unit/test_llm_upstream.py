"""Upstream connections go through the gateway's proxy with its password, are kept and reused,
and a kept connection the upstream closed is not reused (loopback fakes of proxy and upstream)."""

from __future__ import annotations

import base64
import contextlib
import functools
import ssl
from collections.abc import Awaitable, Callable

import attrs
import h11
import pytest
import trio

from cloudclaude.llmgate.upstream import Proxy, Target, Upstream, UpstreamError

PASSWORD = "gateway-secret"


@attrs.define
class Fakes:
    upstream_port: int = 0
    proxy_port: int = 0
    tunnels: int = 0
    close_after_answer: bool = False

    async def upstream(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.EndOfMessage):
                headers = [("content-length", "2")]
                if self.close_after_answer:
                    headers.append(("connection", "close"))
                out = conn.send(h11.Response(status_code=200, headers=headers))
                out += conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage())
                await stream.send_all(out)
                if conn.our_state is h11.MUST_CLOSE:
                    await stream.aclose()
                    return
                conn.start_next_cycle()

    async def proxy(self, stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        wanted = base64.b64encode(f"cloudclaude:{PASSWORD}".encode())
        if b"Proxy-Authorization: Basic " + wanted not in head:
            await stream.send_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            return
        self.tunnels += 1
        inner = await trio.open_tcp_stream("127.0.0.1", self.upstream_port)
        await stream.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(a: trio.abc.Stream, b: trio.abc.Stream) -> None:
            with (
                trio.move_on_after(10),
                contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
            ):
                while data := await a.receive_some(65536):
                    await b.send_all(data)
            await b.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipe, stream, inner)
            nursery.start_soon(pipe, inner, stream)


async def serving(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    serve = functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    [listener] = await nursery.start(serve)
    port: int = listener.socket.getsockname()[1]
    return port


async def one_exchange(upstream: Upstream) -> tuple[object, bytes]:
    conn = await upstream.acquire()
    await conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    await conn.send(h11.EndOfMessage())
    body = b""
    while not isinstance(event := await conn.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Data):
            body += event.data
    await upstream.release(conn)
    return conn, body


def pool(fakes: Fakes, password: str = PASSWORD) -> Upstream:
    proxy = Proxy(
        address="127.0.0.1", port=fakes.proxy_port, username="cloudclaude", password=password
    )
    target = Target(tls=False, host="127.0.0.1", port=fakes.upstream_port)
    return Upstream(target, proxy, ssl.create_default_context())


async def test_a_kept_connection_is_reused_through_one_tunnel() -> None:
    fakes = Fakes()
    async with trio.open_nursery() as nursery:
        fakes.upstream_port = await serving(nursery, fakes.upstream)
        fakes.proxy_port = await serving(nursery, fakes.proxy)
        upstream = pool(fakes)
        first, body = await one_exchange(upstream)
        second, _ = await one_exchange(upstream)
        assert body == b"ok" and first is second and fakes.tunnels == 1
        await upstream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_connection_the_upstream_closes_is_not_reused() -> None:
    fakes = Fakes(close_after_answer=True)
    async with trio.open_nursery() as nursery:
        fakes.upstream_port = await serving(nursery, fakes.upstream)
        fakes.proxy_port = await serving(nursery, fakes.proxy)
        upstream = pool(fakes)
        first, _ = await one_exchange(upstream)
        second, _ = await one_exchange(upstream)
        assert first is not second and fakes.tunnels == 2
        await upstream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_wrong_proxy_password_is_a_clear_error() -> None:
    fakes = Fakes()
    async with trio.open_nursery() as nursery:
        fakes.upstream_port = await serving(nursery, fakes.upstream)
        fakes.proxy_port = await serving(nursery, fakes.proxy)
        with pytest.raises(UpstreamError, match="proxy refused"):
            await pool(fakes, "wrong").acquire()
        nursery.cancel_scope.cancel()


def test_targets_parse_and_name_their_host() -> None:
    target = Target.parse("https://api.anthropic.com")
    assert (target.tls, target.port, target.host_header) == (True, 443, "api.anthropic.com")
    assert Target.parse("http://198.18.1.3:8443/").host_header == "198.18.1.3:8443"
    with pytest.raises(ValueError, match="not an http"):
        Target.parse("ftp://x")
