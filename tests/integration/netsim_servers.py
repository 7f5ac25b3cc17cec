"""The simulated internet's own services, run inside its network namespace (stdlib only).

``python netsim_servers.py CONFIG.json`` serves, on addresses the harness already put on the
namespace's interfaces:

- whoami over HTTP (and HTTPS with the given certificate): ``GET /`` answers the caller's
  address as plain text (like api.ipify.org), ``GET /bytes/<n>`` streams ``n`` zero bytes;
- a logging DNS server over UDP and TCP: fixed A records, ``TXT`` for the "my address" name
  answering the asking resolver's source address (like o-o.myaddr.l.google.com), NXDOMAIN for
  anything else; every query is appended as a JSON line to the log file.

It prints ``ready`` once every socket is bound, and runs until killed.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import socketserver
import ssl
import struct
import sys
import threading
from pathlib import Path
from typing import Any

TTL = 60
CHUNK = b"\0" * (1 << 20)
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA"}
TYPE_A, TYPE_TXT = 1, 16


class Whoami(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "netsim-whoami"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            body = self.client_address[0].encode()
            self._head(200, len(body))
            self.wfile.write(body)
        elif path.startswith("/bytes/") and path[7:].isdigit():
            size = int(path[7:])
            self._head(200, size, "application/octet-stream")
            view = memoryview(CHUNK)
            while size > 0:
                step = min(size, len(CHUNK))
                self.wfile.write(view[:step])
                size -= step
        else:
            body = b"not found"
            self._head(404, len(body))
            self.wfile.write(body)

    def _head(self, status: int, length: int, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-download is normal here; anything else is reported.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class TlsHttpServer(HttpServer):
    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, Whoami)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # On the connection's own thread: a slow handshake never holds up accept().
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(tls, client_address)


class Resolver:
    """Answers and logs queries; one instance shared by every DNS listener."""

    def __init__(self, records: dict[str, str], myaddr: str, log: Path) -> None:
        self.records = {name.lower().rstrip("."): ip for name, ip in records.items()}
        self.myaddr = myaddr.lower().rstrip(".")
        self.log = log
        self.lock = threading.Lock()

    def answer(self, query: bytes, source: str, server: str, transport: str) -> bytes | None:
        try:
            ident, flags, qdcount = struct.unpack("!HHH", query[:6])
            name, offset = _read_name(query, 12)
            qtype, _qclass = struct.unpack("!HH", query[offset : offset + 4])
        except (struct.error, ValueError, IndexError):
            return None
        if flags & 0x8000 or qdcount != 1:
            return None
        self._log(name, qtype, source, server, transport)
        question = query[12 : offset + 4]
        answers: list[bytes] = []
        rcode = 0
        if name == self.myaddr:
            if qtype == TYPE_TXT:
                answers.append(_rr(TYPE_TXT, bytes([len(source)]) + source.encode()))
        elif name in self.records:
            if qtype == TYPE_A:
                answers.append(_rr(TYPE_A, ipaddress.IPv4Address(self.records[name]).packed))
        else:
            rcode = 3
        reply_flags = 0x8400 | (flags & 0x0100) | 0x0080 | rcode  # QR AA RD(copied) RA
        header = struct.pack("!HHHHHH", ident, reply_flags, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    def _log(self, name: str, qtype: int, source: str, server: str, transport: str) -> None:
        line = json.dumps(
            {
                "name": name,
                "type": TYPES.get(qtype, str(qtype)),
                "source": source,
                "server": server,
                "transport": transport,
            }
        )
        with self.lock, self.log.open("a") as out:
            out.write(line + "\n")


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    while True:
        length = data[offset]
        if length == 0:
            return ".".join(labels).lower(), offset + 1
        if length & 0xC0:
            raise ValueError("compressed names are not expected in questions")
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def _rr(rtype: int, rdata: bytes) -> bytes:
    # The owner name points back at the question (offset 12).
    return struct.pack("!HHHIH", 0xC00C, rtype, 1, TTL, len(rdata)) + rdata


def serve_dns(resolver: Resolver, address: str) -> list[socketserver.BaseServer]:
    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = resolver.answer(data, self.client_address[0], address, "udp")
            if reply is not None:
                sock.sendto(reply, self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                head = self.rfile.read(2)
                if len(head) < 2:
                    return
                query = self.rfile.read(struct.unpack("!H", head)[0])
                reply = resolver.answer(query, self.client_address[0], address, "tcp")
                if reply is None:
                    return
                self.wfile.write(struct.pack("!H", len(reply)) + reply)

    class UdpServer(socketserver.ThreadingUDPServer):
        daemon_threads = True

    class TcpServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    return [UdpServer((address, 53), Udp), TcpServer((address, 53), Tcp)]


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    resolver = Resolver(config["records"], config["myaddr_name"], Path(config["dns_log"]))
    servers: list[socketserver.BaseServer] = []
    for address in config["dns"]:
        servers += serve_dns(resolver, address)
    for address in config["http"]:
        servers.append(HttpServer((address, 80), Whoami))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config["cert"], config["key"])
    for address in config["https"]:
        servers.append(TlsHttpServer((address, 443), context))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
