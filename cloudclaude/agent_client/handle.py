"""How the daemon reaches the agent, by ``agent.mode``.

- ``embedded``: an agent served in this process over an in-memory stream (development).
- ``socket``: the separate privileged ``cloudclaude-agent`` on its Unix socket (production);
  each call uses a short connection, so an agent restart needs no reconnect logic here.
- ``none``: no agent; calls fail with ``agent_unavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentClient, AgentConnectionLost, embedded
from cloudclaude.settings import AgentSettings


class Agent:
    """The daemon's one way to the agent, whatever the mode."""

    def __init__(self, mode: str, client: AgentClient | None = None, socket: str = "") -> None:
        self.mode = mode
        self._client = client
        self._socket = socket

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AgentClient]:
        if self._client is not None:
            yield self._client
            return
        if self.mode != "socket":
            raise AgentConnectionLost("no agent is configured (agent.mode = none)")
        try:
            stream = await trio.open_unix_socket(self._socket)
        except OSError as exc:
            raise AgentConnectionLost(f"cannot connect to {self._socket}: {exc}") from exc
        async with AgentClient.connect(stream) as client:
            yield client

    async def ping(self) -> m.Pong:
        async with self._connection() as client:
            return await client.ping()


@asynccontextmanager
async def open_agent(settings: AgentSettings) -> AsyncIterator[Agent]:
    if settings.mode == "embedded":
        async with embedded() as client:
            yield Agent("embedded", client)
    else:
        yield Agent(settings.mode, socket=settings.socket)
