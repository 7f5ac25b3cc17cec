"""Clients of the simulated internet from the root netns: a one-shot DNS query, and a local
sing-box speaking to one exit with ``render_config``'s outbound and DNS section.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from agent.egress import dnswire
from agent.egress.singbox_binary import sing_box_path
from agent.egress.singbox_config import TunnelLayout, render_config
from agent.protocol import messages as m
from tests.integration.netsim_plumbing import START_TIMEOUT_S, kill_pids


def dns_query(
    server: str, name: str, qtype: str = "A", *, port: int = 53, tcp: bool = False
) -> list[str]:
    """Ask ``server`` once; the A addresses or TXT strings of the answer (blocking, 3 s)."""
    code = {"A": dnswire.TYPE_A, "TXT": dnswire.TYPE_TXT, "AAAA": dnswire.TYPE_AAAA}[qtype]
    ident, query = dnswire.query(name, code)
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(3)
        sock.connect((server, port))
        if tcp:
            sock.sendall(struct.pack("!H", len(query)) + query)
            reply = _recv_exact(sock, struct.unpack("!H", _recv_exact(sock, 2))[0])
        else:
            sock.send(query)
            reply = sock.recv(4096)
    return dnswire.answers(reply, ident, code)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("DNS connection closed early")
        data += chunk
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class LocalClient:
    """A sing-box client in the root netns speaking to one exit (see ``local_client``)."""

    #: HTTP and SOCKS5 proxy (a ``mixed`` inbound) on 127.0.0.1.
    proxy_port: int
    #: DNS on 127.0.0.1 (UDP and TCP), answered by the rendered ``dns`` section.
    dns_port: int

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"


def local_client_config(exit: m.ExitSpec, proxy_port: int, dns_port: int) -> dict[str, Any]:
    """The rendered gateway outbound and DNS, with local inbounds instead of the tun."""
    layout = TunnelLayout(
        tun_name="unused", tun_address="100.96.0.1/30", routing_mark=0, server_ip=exit.server
    )
    rendered = render_config(exit, layout)
    return {
        "log": {"level": "warn", "timestamp": True},
        "dns": rendered["dns"],
        "inbounds": [
            {"type": "mixed", "tag": "proxy-in", "listen": "127.0.0.1", "listen_port": proxy_port},
            {"type": "direct", "tag": "dns-in", "listen": "127.0.0.1", "listen_port": dns_port},
        ],
        "outbounds": rendered["outbounds"],
        "route": {
            "rules": [{"inbound": "dns-in", "action": "hijack-dns"}],
            "final": rendered["route"]["final"],
        },
    }


@contextlib.contextmanager
def local_client(exit: m.ExitSpec, workdir: Path) -> Iterator[LocalClient]:
    """Run sing-box in the root netns with ``render_config``'s outbound for ``exit``."""
    client = LocalClient(free_port(), free_port())
    config = workdir / f"client-{client.proxy_port}.json"
    config.write_text(json.dumps(local_client_config(exit, *attrs.astuple(client)), indent=1))
    log = workdir / f"client-{client.proxy_port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(sing_box_path()), "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        _wait_listening(client.proxy_port, process, log)
        yield client
    finally:
        kill_pids([process.pid])
        process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"sing-box client did not start: {log.read_text(errors='replace')}")
