"""The agent's operations wired to their request types: one handler per message.

``open_runtime`` gives a ``Dispatcher`` with every operation registered and closes the Docker
client when the agent stops; both modes (socket and embedded) use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from agent.config import AgentConfig
from agent.dispatch import Dispatcher, ReportProgress, SocketReply
from agent.egress.gateways import Gateways
from agent.egress.verify import Probe, observe
from agent.ops.containers import Containers
from agent.ops.docker import Docker
from agent.ops.images import Images
from agent.ops.ports import open_port, socket_in_box
from agent.ops.probe import activity
from agent.ops.volumes import HomeVolumes
from agent.protocol import messages as m


class Runtime:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.docker = Docker(config.docker_socket)
        self.images = Images(self.docker, config)
        self.volumes = HomeVolumes(config.volumes_dir)
        self.containers = Containers(
            self.docker, self.volumes, self.images.current, config.instance
        )
        self.gateways = Gateways(config, self.containers)

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(m.EnsureImage, self.ensure_image)
        dispatcher.register(m.CreateHost, self.create_host)
        dispatcher.register(m.StartHost, self.start_host)
        dispatcher.register(m.StopHost, self.stop_host)
        dispatcher.register(m.RemoveHost, self.remove_host)
        dispatcher.register(m.InspectHost, self.inspect_host)
        dispatcher.register(m.ListHosts, self.list_hosts)
        dispatcher.register(m.HostLogs, self.host_logs)
        dispatcher.register(m.HostStats, self.host_stats)
        dispatcher.register(m.ExecInHost, self.exec_in_host)
        dispatcher.register(m.OpenPort, self.open_port)
        dispatcher.register(m.HostActivity, self.host_activity)
        dispatcher.register(m.SetupEgress, self.setup_egress)
        dispatcher.register(m.TeardownEgress, self.teardown_egress)
        dispatcher.register(m.SetAllowlist, self.set_allowlist)
        dispatcher.register(m.VerifyEgress, self.verify_egress)
        dispatcher.register(m.ProbeExit, self.probe_exit)
        dispatcher.register(m.ListGateways, self.list_gateways)
        dispatcher.register(m.SweepGateways, self.sweep_gateways)
        dispatcher.register(m.EgressCounters, self.egress_counters)

    async def ensure_image(self, request: m.EnsureImage, progress: ReportProgress) -> m.Reply:
        built = await self.images.ensure(progress, force=request.force)
        return m.ImageReady(
            id=request.id, image=built.image, image_id=built.image_id, built=built.built
        )

    async def create_host(self, request: m.CreateHost, progress: ReportProgress) -> m.Reply:
        spec = request.spec
        if not spec.dns:  # the box resolves through its gateway's tunnel, nowhere else
            spec = attrs.evolve(spec, dns=[self.gateways.dns_address])
        state, _created = await self.containers.create(request.host_id, spec, progress)
        return m.HostReply(id=request.id, host=state)

    async def start_host(self, request: m.StartHost, _progress: ReportProgress) -> m.Reply:
        return m.HostReply(id=request.id, host=await self.containers.start(request.host_id))

    async def stop_host(self, request: m.StopHost, _progress: ReportProgress) -> m.Reply:
        state = await self.containers.stop(request.host_id, request.grace_s)
        await self.gateways.teardown(request.host_id)
        return m.HostReply(id=request.id, host=state)

    async def remove_host(self, request: m.RemoveHost, _progress: ReportProgress) -> m.Reply:
        changed = await self.gateways.teardown(request.host_id)
        changed = await self.containers.remove(request.host_id, purge=request.purge) or changed
        return m.Done(id=request.id, changed=changed)

    async def inspect_host(self, request: m.InspectHost, _progress: ReportProgress) -> m.Reply:
        return m.HostReply(id=request.id, host=await self.containers.inspect(request.host_id))

    async def list_hosts(self, request: m.ListHosts, _progress: ReportProgress) -> m.Reply:
        hosts, volumes = await self.containers.list_all()
        return m.HostList(id=request.id, hosts=hosts, volumes=volumes)

    async def host_logs(self, request: m.HostLogs, _progress: ReportProgress) -> m.Reply:
        text = await self.containers.logs(request.host_id, request.tail)
        return m.LogsReply(id=request.id, text=text)

    async def host_stats(self, request: m.HostStats, _progress: ReportProgress) -> m.Reply:
        return attrs.evolve(await self.containers.stats(request.host_id), id=request.id)

    async def exec_in_host(self, request: m.ExecInHost, _progress: ReportProgress) -> m.Reply:
        reply = await self.containers.exec(request.host_id, request.argv, request.user)
        return attrs.evolve(reply, id=request.id)

    async def host_activity(self, request: m.HostActivity, _progress: ReportProgress) -> m.Reply:
        return attrs.evolve(await activity(self.containers, request.host_id), id=request.id)

    async def open_port(self, request: m.OpenPort, _progress: ReportProgress) -> SocketReply:
        sock = await open_port(self.containers, request.host_id, request.port)
        return SocketReply(m.PortOpened(id=request.id), sock)

    async def setup_egress(self, request: m.SetupEgress, progress: ReportProgress) -> m.Reply:
        state = await self.gateways.setup(request.host_id, request.gateway, progress)
        return m.EgressReply(id=request.id, egress=state)

    async def teardown_egress(self, request: m.TeardownEgress, _p: ReportProgress) -> m.Reply:
        return m.Done(id=request.id, changed=await self.gateways.teardown(request.host_id))

    async def set_allowlist(self, request: m.SetAllowlist, _p: ReportProgress) -> m.Reply:
        state = await self.gateways.set_allowlist(request.host_id, request.allowed_domains)
        return m.EgressReply(id=request.id, egress=state)

    def _probe(self, request: m.VerifyEgress | m.ProbeExit) -> Probe:
        return Probe(
            url=request.url,
            dns_name=request.dns_name,
            timeout_s=request.timeout_s,
            resolver=self.gateways.dns_address,
        )

    async def verify_egress(self, request: m.VerifyEgress, progress: ReportProgress) -> m.Reply:
        async def sockets(kind: int) -> trio.socket.SocketType:
            return await socket_in_box(self.containers, request.host_id, kind)

        return await observe(sockets, self._probe(request), progress, request.id)

    async def probe_exit(self, request: m.ProbeExit, progress: ReportProgress) -> m.Reply:
        return await self.gateways.probe(request.exit, self._probe(request), progress, request.id)

    async def list_gateways(self, request: m.ListGateways, _p: ReportProgress) -> m.Reply:
        states, leftovers = await self.gateways.list_all()
        return m.GatewayList(
            id=request.id,
            gateways=states,
            leftovers=leftovers,
            watch_errors=self.gateways.watch_errors,
        )

    async def sweep_gateways(self, request: m.SweepGateways, _p: ReportProgress) -> m.Reply:
        removed = await self.gateways.remove_leftovers()
        return m.GatewayList(
            id=request.id, gateways=[], leftovers=removed, watch_errors=self.gateways.watch_errors
        )

    async def egress_counters(self, request: m.EgressCounters, _p: ReportProgress) -> m.Reply:
        return m.CountersReply(id=request.id, dropped=await self.gateways.counters())


@asynccontextmanager
async def open_runtime(config: AgentConfig) -> AsyncIterator[Dispatcher]:
    """The dispatcher, with the kill-switch watch running for as long as the agent serves."""
    dispatcher = Dispatcher()
    runtime = Runtime(config)
    runtime.register(dispatcher)
    try:
        await runtime.gateways.sing_box.check()
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.gateways.watch)
            try:
                yield dispatcher
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await runtime.docker.aclose()
