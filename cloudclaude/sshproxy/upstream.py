"""The upstream leg: an SSH client connection to a box's sshd over a socket the agent opened.

The agent connects to 127.0.0.1:22 inside the box's network namespace and hands the socket
over; the proxy logs in as ``claude`` with the host's own key pair (sealed in the database).
Nothing else can reach the box's sshd, so its host key is not pinned. AES-GCM only and no
compression: this leg runs on the same two cores as everything else, so it must be cheap.
The audited client-facing policy (``algorithms.py``) does not apply here: this leg never
leaves the host, so key exchange and host key follow what the box's sshd offers.
"""

from __future__ import annotations

import uuid

import asyncssh

from cloudclaude.agent_client.handle import Agent
from cloudclaude.domain.hosts import Hosts
from cloudclaude.sshproxy.bridge import in_trio

BOX_USER = "claude"
UPSTREAM_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
#: Channel window and packet size on both legs: large windows keep a 1 GB copy streaming.
WINDOW = 8 * 1024 * 1024
MAX_PACKET = 256 * 1024


async def connect_box(
    agent: Agent, hosts: Hosts, host_id: uuid.UUID
) -> asyncssh.SSHClientConnection:
    """A logged-in SSH connection to the host's box (asyncio side)."""
    sock = await in_trio(agent.open_port, str(host_id), 22)
    key = asyncssh.import_private_key(await in_trio(hosts.box_private_key, host_id))
    try:
        return await asyncssh.connect(
            sock=sock,
            username=BOX_USER,
            client_keys=[key],
            known_hosts=None,
            agent_path=None,
            encryption_algs=list(UPSTREAM_CIPHERS),
            compression_algs=None,
            window=WINDOW,
            max_pktsize=MAX_PACKET,
            keepalive_interval=60,
        )
    except BaseException:
        sock.close()
        raise
