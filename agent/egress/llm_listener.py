"""The credentials endpoint's socket: made by the agent inside a host's gateway, held by the daemon.

``open_llm_listener`` makes a TCP socket listening on ``LLM_PORT`` in the gateway's network
namespace (only the box reaches it: the gateway's firewall) and says how to reach the upstream
proxy of that gateway's sing-box. The caller holds the socket, so it goes with the caller and
never keeps an agent resource alive; the agent keeps no copy.
"""

from __future__ import annotations

import os
import socket

import trio

from agent.egress import layout as lay
from agent.egress.gateways import Gateways
from agent.errors import EGRESS_SETUP_FAILED, HOST_NOT_RUNNING, AgentError
from agent.ops.ports import on_fresh_thread, socket_in_netns
from agent.protocol import messages as m


async def open_llm_listener(
    gateways: Gateways, host_id: str
) -> tuple[m.LlmListenerOpened, socket.socket]:
    """A listening socket on ``LLM_PORT`` inside the host's gateway, and how to reach the
    upstream proxy."""
    async with gateways.lock_of(host_id):  # not in a namespace being replaced
        record = await gateways.records.load(host_id)
        if record is None or not record.upstream_password:
            raise AgentError(HOST_NOT_RUNNING, f"host {host_id} has no gateway (not running)")
        layout = gateways.layout(record)
        sock = await trio.to_thread.run_sync(on_fresh_thread, lambda: _listen_in(layout.netns))
    opened = m.LlmListenerOpened(
        id=0,
        proxy_address=layout.uplink_gateway_address,
        proxy_port=lay.LLM_UPSTREAM_PORT,
        proxy_username=lay.LLM_UPSTREAM_USER,
        proxy_password=record.upstream_password,
    )
    return opened, sock


def _listen_in(netns: str) -> socket.socket:
    """A TCP socket listening on every address of the named netns, port ``LLM_PORT``.

    ``SO_REUSEPORT``: a daemon that died may still hold its copy for a moment; the new one must
    not wait for it (the daemon always closes its old copy before asking again).
    """
    try:
        ns_fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise AgentError(HOST_NOT_RUNNING, f"the gateway {netns} is gone") from exc
    try:
        sock = socket_in_netns(ns_fd)
    finally:
        os.close(ns_fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("0.0.0.0", lay.LLM_PORT))  # every address of the gateway netns
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise AgentError(EGRESS_SETUP_FAILED, f"credentials endpoint in {netns}: {exc}") from exc
    return sock
