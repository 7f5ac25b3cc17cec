"""Egress verification as the box's own traffic goes: sockets made inside the box's netns.

The agent only observes: the HTTP status and first body line of ``verify_url`` (the address the
far end saw) and the TXT answer for ``verify_dns_name`` asked of the box's own resolver (the
address of the resolver that asked upstream). The daemon compares them with the exit.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable

import attrs
import trio

from agent.dispatch import ReportProgress
from agent.egress import dnswire
from agent.protocol import messages as m

MAX_BODY = 4096
#: A new unconnected socket of a kind (``SOCK_STREAM``, ``SOCK_DGRAM``) inside the box.
SocketMaker = Callable[[int], Awaitable[trio.socket.SocketType]]


@attrs.frozen(kw_only=True)
class Probe:
    url: str
    dns_name: str
    timeout_s: float
    #: The box's own resolver (it answers through the tunnel).
    resolver: str


async def observe(
    sockets: SocketMaker, request: Probe, progress: ReportProgress, reply_id: int
) -> m.VerifyReply:
    status, body, http_error = 0, "", ""
    if request.url:
        await progress("verify.http", 10, f"GET {request.url}")
        try:
            with trio.fail_after(request.timeout_s):
                status, body = await _http_get(sockets, request)
        except (
            OSError,
            ValueError,
            dnswire.DnsError,
            ssl.SSLError,
            trio.BrokenResourceError,
        ) as exc:
            http_error = f"{type(exc).__name__}: {exc}"
        except trio.TooSlowError:
            http_error = f"no answer in {request.timeout_s}s"
    txt: list[str] = []
    dns_error = ""
    if request.dns_name:
        await progress("verify.dns", 60, f"TXT {request.dns_name}")
        try:
            with trio.fail_after(request.timeout_s):
                txt = await resolve(sockets, request.resolver, request.dns_name, dnswire.TYPE_TXT)
        except (OSError, dnswire.DnsError) as exc:
            dns_error = f"{type(exc).__name__}: {exc}"
        except trio.TooSlowError:
            dns_error = f"no answer in {request.timeout_s}s"
    return m.VerifyReply(
        id=reply_id,
        http_status=status,
        http_body=body,
        http_error=http_error,
        txt_answers=txt,
        dns_error=dns_error,
    )


async def resolve(sockets: SocketMaker, resolver: str, name: str, qtype: int) -> list[str]:
    """Ask the box's resolver over UDP from inside the box, resending every second."""
    sock = await sockets(socket.SOCK_DGRAM)
    with sock:
        await sock.connect((resolver, 53))
        ident, packet = dnswire.query(name, qtype)
        while True:
            await sock.send(packet)
            with trio.move_on_after(1.0):
                while True:
                    data = await sock.recv(4096)
                    try:
                        return dnswire.answers(data, ident, qtype)
                    except dnswire.DnsError as exc:
                        if "another query" not in str(exc):
                            raise


async def _http_get(sockets: SocketMaker, request: Probe) -> tuple[int, str]:
    url = urllib.parse.urlsplit(request.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"not an http(s) URL: {request.url}")
    host = url.hostname
    try:
        address = str(ipaddress.IPv4Address(host))
    except ValueError:
        found = await resolve(sockets, request.resolver, host, dnswire.TYPE_A)
        if not found:
            raise dnswire.DnsError(f"{host} has no A record") from None
        address = found[0]
    port = url.port or (443 if url.scheme == "https" else 80)
    sock = await sockets(socket.SOCK_STREAM)
    await sock.connect((address, port))
    stream: trio.abc.Stream = trio.SocketStream(sock)
    if url.scheme == "https":
        stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=host)
    async with stream:
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        head = f"GET {path} HTTP/1.0\r\nHost: {url.netloc}\r\nUser-Agent: cloudclaude-verify\r\n"
        await stream.send_all((head + "Connection: close\r\n\r\n").encode())
        data = b""
        while len(data) < MAX_BODY:
            chunk = await stream.receive_some(MAX_BODY)
            if not chunk:
                break
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].decode(errors="replace").split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer: {status_line!r}")
    lines = payload.decode(errors="replace").strip().splitlines()
    return int(status_line[1]), lines[0].strip() if lines else ""
