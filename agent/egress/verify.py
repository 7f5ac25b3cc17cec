"""Egress verification as the box's own traffic goes: sockets made inside the box's netns.

The agent only observes: the HTTP status and first body line of ``verify_url`` (the address the
far end saw) and the TXT answer for ``verify_dns_name`` asked of the box's own resolver (the
address of the resolver that asked upstream). The daemon compares them with the exit.

An exit test (``egress.probe``) also asks the TXT question over UDP, from
``UDP_PROBE_PORT`` straight to the exit's resolver: the gateway routes that one path through
the exit without the DNS hijack (which would answer it over TCP), so an answer proves the exit
relays UDP. A CONNECT-only SOCKS5 server (``ssh -D``, microsocks, Tor) gives none.
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
from agent.egress.singbox_config import UDP_PROBE_PORT, carries_udp
from agent.protocol import messages as m

MAX_BODY = 4096
#: How long the UDP question waits for an answer (an exit that relays UDP answers in
#: milliseconds; one that does not never answers, so this is the cost of an exit test).
UDP_WAIT_S = 5.0
#: A new unconnected socket of a kind (``SOCK_STREAM``, ``SOCK_DGRAM``) inside the box.
SocketMaker = Callable[[int], Awaitable[trio.socket.SocketType]]


@attrs.frozen(kw_only=True)
class Probe:
    url: str
    dns_name: str
    timeout_s: float
    #: The box's own resolver (it answers through the tunnel).
    resolver: str
    #: Exit tests only: the exit's resolver, asked over UDP through the exit ("": not asked).
    udp_server: str = ""


def for_exit_test(exit: m.ExitSpec, probe: Probe) -> tuple[m.ExitSpec, Probe]:
    """An exit test's gateway carries UDP where the kind can (to find out whether the exit
    does), and the probe asks over UDP too when there is a name to ask."""
    spec = attrs.evolve(exit, udp=True)
    if carries_udp(spec) and probe.dns_name:
        probe = attrs.evolve(probe, udp_server=spec.dns_server)
    return spec, probe


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
    udp: list[str] = []
    udp_error = ""
    if request.udp_server:
        await progress("verify.udp", 80, f"TXT {request.dns_name} over UDP")
        wait = min(request.timeout_s, UDP_WAIT_S)
        try:
            with trio.fail_after(wait):
                udp = await resolve(
                    sockets,
                    request.udp_server,
                    request.dns_name,
                    dnswire.TYPE_TXT,
                    source_port=UDP_PROBE_PORT,
                )
        except (OSError, dnswire.DnsError) as exc:
            udp_error = f"{type(exc).__name__}: {exc}"
        except trio.TooSlowError:
            udp_error = f"no answer in {wait}s"
    return m.VerifyReply(
        id=reply_id,
        http_status=status,
        http_body=body,
        http_error=http_error,
        txt_answers=txt,
        dns_error=dns_error,
        udp_checked=bool(request.udp_server),
        udp_answers=udp,
        udp_error=udp_error,
    )


async def resolve(
    sockets: SocketMaker, resolver: str, name: str, qtype: int, *, source_port: int = 0
) -> list[str]:
    """Ask ``resolver`` over UDP from inside the box, resending every second."""
    sock = await sockets(socket.SOCK_DGRAM)
    with sock:
        if source_port:
            await sock.bind(("0.0.0.0", source_port))
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
