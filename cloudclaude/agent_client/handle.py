"""How the daemon reaches the agent, by ``agent.mode``, with typed calls and their latency.

- ``embedded``: an agent served in this process over an in-memory stream (development).
- ``socket``: the separate privileged ``cloudclaude-agent`` on its Unix socket (production);
  each call uses a short connection, so an agent restart needs no reconnect logic here.
- ``none``: no agent; calls fail with ``agent_unavailable``.

Every call's duration is observed in ``cloudclaude_agent_request_duration_seconds`` by op.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from prometheus_client import Histogram

from agent.config import AgentConfig, parse_extra_mounts
from agent.protocol import messages as m
from cloudclaude.agent_client.client import (
    AgentClient,
    AgentConnectionLost,
    OnProgress,
    agent_exited,
    embedded,
    request_with_socket_over_unix,
    socket_request_over_unix,
)
from cloudclaude.agent_client.peer_watch import while_peer_lives
from cloudclaude.core.settings import Settings


class Agent:
    """The daemon's one way to the agent, whatever the mode.

    ``claude_code_version`` (``image.claude_code_version``; "" for the version the agent's
    Dockerfile pins) and ``extra_packages`` (``image.extra_packages``; "" for none) go with
    every image request and every create: a new container runs the image of the settings, and
    ``ensure_image`` names the same image the creates use.
    """

    def __init__(
        self,
        mode: str,
        client: AgentClient | None = None,
        socket: str = "",
        *,
        claude_code_version: str = "",
        extra_packages: str = "",
    ) -> None:
        self.mode = mode
        self._client = client
        self._socket = socket
        self.claude_code_version = claude_code_version
        self.extra_packages = extra_packages
        #: Set by the daemon's wiring; None in tools that keep no metrics.
        self.latency: Histogram | None = None

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
        async with (
            while_peer_lives(stream.socket, agent_exited),
            AgentClient.connect(stream) as client,
        ):
            yield client

    @asynccontextmanager
    async def _timed(self, op: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.latency is not None:
                self.latency.labels(op).observe(time.perf_counter() - started)

    async def request(self, request: m.Request, on_progress: OnProgress | None = None) -> Any:
        async with self._timed(m.op_name(type(request))), self._connection() as client:
            return await client.request(request, on_progress)

    async def ping(self) -> m.Pong:
        reply: m.Pong = await self.request(m.Ping(id=0))
        return reply

    async def ensure_image(
        self, *, force: bool = False, on_progress: OnProgress | None = None
    ) -> m.ImageReady:
        request = m.EnsureImage(
            id=0,
            force=force,
            claude_code_version=self.claude_code_version,
            extra_packages=self.extra_packages,
        )
        reply: m.ImageReady = await self.request(request, on_progress)
        return reply

    async def create_host(
        self, host_id: str, spec: m.BoxSpec, on_progress: OnProgress | None = None
    ) -> m.HostState:
        request = m.CreateHost(
            id=0,
            host_id=host_id,
            spec=spec,
            claude_code_version=self.claude_code_version,
            extra_packages=self.extra_packages,
        )
        reply: m.HostReply = await self.request(request, on_progress)
        return reply.host

    async def start_host(self, host_id: str) -> m.HostState:
        reply: m.HostReply = await self.request(m.StartHost(id=0, host_id=host_id))
        return reply.host

    async def stop_host(self, host_id: str, grace_s: int = 10) -> m.HostState:
        reply: m.HostReply = await self.request(m.StopHost(id=0, host_id=host_id, grace_s=grace_s))
        return reply.host

    async def remove_host(self, host_id: str, *, purge: bool = False) -> bool:
        reply: m.Done = await self.request(m.RemoveHost(id=0, host_id=host_id, purge=purge))
        return reply.changed

    async def inspect_host(self, host_id: str) -> m.HostState:
        reply: m.HostReply = await self.request(m.InspectHost(id=0, host_id=host_id))
        return reply.host

    async def list_hosts(self) -> m.HostList:
        reply: m.HostList = await self.request(m.ListHosts(id=0))
        return reply

    async def host_logs(self, host_id: str, tail: int = 200) -> str:
        reply: m.LogsReply = await self.request(m.HostLogs(id=0, host_id=host_id, tail=tail))
        return reply.text

    async def host_stats(self, host_id: str) -> m.StatsReply:
        reply: m.StatsReply = await self.request(m.HostStats(id=0, host_id=host_id))
        return reply

    async def host_activity(self, host_id: str) -> m.ActivityReply:
        reply: m.ActivityReply = await self.request(m.HostActivity(id=0, host_id=host_id))
        return reply

    async def setup_egress(
        self, host_id: str, gateway: m.GatewaySpec, on_progress: OnProgress | None = None
    ) -> m.EgressState:
        reply: m.EgressReply = await self.request(
            m.SetupEgress(id=0, host_id=host_id, gateway=gateway), on_progress
        )
        return reply.egress

    async def teardown_egress(self, host_id: str) -> bool:
        reply: m.Done = await self.request(m.TeardownEgress(id=0, host_id=host_id))
        return reply.changed

    async def set_allowlist(self, host_id: str, domains: list[str]) -> m.EgressState:
        reply: m.EgressReply = await self.request(
            m.SetAllowlist(id=0, host_id=host_id, allowed_domains=domains)
        )
        return reply.egress

    async def verify_egress(
        self,
        host_id: str,
        *,
        url: str,
        dns_name: str,
        timeout_s: float,
        on_progress: OnProgress | None = None,
    ) -> m.VerifyReply:
        request = m.VerifyEgress(
            id=0, host_id=host_id, url=url, dns_name=dns_name, timeout_s=timeout_s
        )
        reply: m.VerifyReply = await self.request(request, on_progress)
        return reply

    async def probe_exit(
        self,
        spec: m.ExitSpec,
        *,
        url: str,
        dns_name: str,
        timeout_s: float,
        on_progress: OnProgress | None = None,
    ) -> m.VerifyReply:
        request = m.ProbeExit(id=0, exit=spec, url=url, dns_name=dns_name, timeout_s=timeout_s)
        reply: m.VerifyReply = await self.request(request, on_progress)
        return reply

    async def list_gateways(self) -> m.GatewayList:
        reply: m.GatewayList = await self.request(m.ListGateways(id=0))
        return reply

    async def sweep_gateways(self) -> list[str]:
        """Remove gateway leftovers (namespaces, links, processes); returns what went."""
        reply: m.GatewayList = await self.request(m.SweepGateways(id=0))
        return reply.leftovers

    async def egress_counters(self) -> dict[str, int]:
        reply: m.CountersReply = await self.request(m.EgressCounters(id=0))
        return reply.dropped

    async def open_port(self, host_id: str, port: int) -> socket.socket:
        """A socket connected to ``127.0.0.1:port`` inside the box (its own connection)."""
        async with self._timed(m.op_name(m.OpenPort)):
            if self._client is not None:
                return await self._client.open_port(host_id, port)
            if self.mode != "socket":
                raise AgentConnectionLost("no agent is configured (agent.mode = none)")
            _reply, sock = await socket_request_over_unix(
                self._socket, m.OpenPort(id=0, host_id=host_id, port=port)
            )
            return sock

    async def open_llm_listener(self, host_id: str) -> tuple[m.LlmListenerOpened, socket.socket]:
        """The listening socket of the host's credentials endpoint (inside its gateway), and
        the upstream proxy to dial through its exit."""
        request = m.OpenLlmListener(id=0, host_id=host_id)
        async with self._timed(m.op_name(m.OpenLlmListener)):
            if self._client is not None:
                reply, sock = await self._client.socket_request(request)
            elif self.mode != "socket":
                raise AgentConnectionLost("no agent is configured (agent.mode = none)")
            else:
                reply, sock = await socket_request_over_unix(self._socket, request)
        if not isinstance(reply, m.LlmListenerOpened):
            sock.close()
            raise AgentConnectionLost(f"the agent answered {reply!r}")
        return reply, sock

    async def export_home(self, host_id: str, sock: socket.socket) -> bool:
        """Write the host's home as a tar into ``sock``; True when the box was frozen for it."""
        reply: m.HomeArchived = await self._with_socket(m.ExportHome(id=0, host_id=host_id), sock)
        return reply.frozen

    async def import_home(self, host_id: str, disk_gb: int, sock: socket.socket) -> None:
        """Read a tar from ``sock`` into the new, empty home of a host with no container."""
        await self._with_socket(m.ImportHome(id=0, host_id=host_id, disk_gb=disk_gb), sock)

    async def mount_checkout(self, host_id: str, path: str, sock: socket.socket) -> int:
        """Mount the SFTP stream in ``sock`` at ``path`` in the running box; sshfs's pid.

        Returns once the mount is in place, before sshfs reads a byte: relay ``sock``'s peer
        only after this returns."""
        request = m.MountCheckout(id=0, host_id=host_id, path=path)
        reply: m.CheckoutMounted = await self._with_socket(request, sock)
        return reply.sshfs_pid

    async def unmount_checkout(self, host_id: str, path: str, sshfs_pid: int = 0) -> None:
        """Lazily detach the checkout mounted at ``path`` in the box and stop its sshfs."""
        await self.request(m.UnmountCheckout(id=0, host_id=host_id, path=path, sshfs_pid=sshfs_pid))

    async def _with_socket(self, request: m.Request, sock: socket.socket) -> Any:
        async with self._timed(m.op_name(type(request))):
            if self._client is not None:
                return await self._client.request(request, sock=sock)
            if self.mode != "socket":
                raise AgentConnectionLost("no agent is configured (agent.mode = none)")
            return await request_with_socket_over_unix(self._socket, request, sock)


def agent_config(settings: Settings) -> AgentConfig:
    """The embedded agent's configuration from the daemon's ``[agent]`` settings."""
    agent = settings.agent
    defaults = AgentConfig()
    return AgentConfig(
        docker_socket=agent.docker_socket,
        state_dir=Path(agent.state_dir) if agent.state_dir else settings.state_path / "agent",
        image_dir=Path(agent.image_dir) if agent.image_dir else defaults.image_dir,
        base_image=agent.base_image,
        debian_mirror=agent.debian_mirror,
        instance=agent.instance or instance_of(settings.state_path),
        egress_pool=agent.egress_pool,
        sing_box=agent.sing_box,
        extra_mounts=parse_extra_mounts(agent.extra_mounts),
    )


def instance_of(state_dir: Path) -> str:
    """A stable name per state directory, so two daemons on one dockerd never meet."""
    return "cc-" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


@asynccontextmanager
async def open_agent(settings: Settings) -> AsyncIterator[Agent]:
    version, packages = settings.image.claude_code_version, settings.image.extra_packages
    if settings.agent.mode == "embedded":
        # Imported here only: the runtime pulls pyroute2 and the Docker operations, which a
        # daemon talking to a separate agent (socket mode) must never load.
        from agent.runtime import open_runtime

        failure: Exception | None = None
        async with (
            open_runtime(agent_config(settings)) as dispatcher,
            embedded(dispatcher) as client,
        ):
            try:
                yield Agent(
                    "embedded", client, claude_code_version=version, extra_packages=packages
                )
            except Exception as exc:  # noqa: BLE001 (re-raised below, not wrapped in a group)
                failure = exc
        if failure is not None:
            raise failure
    else:
        yield Agent(
            settings.agent.mode,
            socket=settings.agent.socket,
            claude_code_version=version,
            extra_packages=packages,
        )
