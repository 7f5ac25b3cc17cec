"""The agent's operations wired to their request types: one handler per message.

``open_runtime`` gives a ``Dispatcher`` with every operation registered and closes the Docker
client when the agent stops; both modes (socket and embedded) use it. Each operation does one
fixed thing: none runs a caller's command, starts a caller's image or mounts a caller's path
(but a checkout's, at a path checked by name and walked safely in the box),
and every host id is checked (``register``) and, for an existing box, must name a container
this instance made (``Containers.find``) before anything is touched.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from agent import errors
from agent.config import AgentConfig
from agent.dispatch import Dispatcher, Handler, ReportProgress, SocketReply, the_passed_socket
from agent.egress import layout as lay
from agent.egress.gateways import Gateways
from agent.egress.layout import llm_url
from agent.egress.llm_listener import open_llm_listener
from agent.egress.verify import Probe, for_exit_test, observe
from agent.ops.checkouts import Checkouts
from agent.ops.containers import Containers
from agent.ops.docker import Docker
from agent.ops.home_archive import HomeArchives
from agent.ops.images import Images
from agent.ops.names import check_wire_host_id
from agent.ops.ports import open_port, socket_in_box
from agent.ops.probe import activity
from agent.ops.volumes import HomeVolumes
from agent.protocol import messages as m

MAX_URL = 2048
MAX_DNS_NAME = 253
#: The longest a verification step may wait (each of HTTP and DNS).
MAX_PROBE_S = 120.0


class Runtime:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.docker = Docker(config.docker_socket, config.docker_limits)
        self.images = Images(self.docker, config)
        self.volumes = HomeVolumes(config.volumes_dir, config.disk_limits)
        self.containers = Containers(
            self.docker,
            self.volumes,
            self.images.current,
            config.instance,
            extra_mounts=config.extra_mounts,
            # The box resolves through its gateway's tunnel, nowhere else.
            dns=lambda: self.gateways.dns_address,
            llm_url=llm_url(lay.parse_pool(config.egress_pool)),
        )
        self.gateways = Gateways(config, self.containers)
        self.archives = HomeArchives(self.docker, self.containers, self.volumes, config.disk_limits)
        self.checkouts = Checkouts(self.containers)

    def operations(self) -> dict[type[Any], Handler]:
        """Every request the agent serves, and its handler: nothing else is on the wire."""
        return {
            m.EnsureImage: self.ensure_image,
            m.CreateHost: self.create_host,
            m.StartHost: self.start_host,
            m.StopHost: self.stop_host,
            m.RemoveHost: self.remove_host,
            m.InspectHost: self.inspect_host,
            m.ListHosts: self.list_hosts,
            m.HostLogs: self.host_logs,
            m.HostStats: self.host_stats,
            m.OpenPort: self.open_port,
            m.HostActivity: self.host_activity,
            m.SetupEgress: self.setup_egress,
            m.TeardownEgress: self.teardown_egress,
            m.SetAllowlist: self.set_allowlist,
            m.VerifyEgress: self.verify_egress,
            m.ProbeExit: self.probe_exit,
            m.ListGateways: self.list_gateways,
            m.SweepGateways: self.sweep_gateways,
            m.EgressCounters: self.egress_counters,
            m.OpenLlmListener: self.open_llm_listener,
            m.ExportHome: self.export_home,
            m.ImportHome: self.import_home,
            m.MountCheckout: self.mount_checkout,
            m.UnmountCheckout: self.unmount_checkout,
        }

    def register(self, dispatcher: Dispatcher) -> None:
        """Register each operation; one naming a host gets its id checked before it runs."""
        for request_type, handler in self.operations().items():
            if "host_id" in attrs.fields_dict(request_type):
                handler = _host_checked(handler)
            dispatcher.register(request_type, handler)

    async def ensure_image(self, request: m.EnsureImage, progress: ReportProgress) -> m.Reply:
        built = await self.images.ensure(
            progress,
            force=request.force,
            claude_code_version=request.claude_code_version,
            extra_packages=request.extra_packages,
        )
        return m.ImageReady(
            id=request.id, image=built.image, image_id=built.image_id, built=built.built
        )

    async def create_host(self, request: m.CreateHost, progress: ReportProgress) -> m.Reply:
        state, _created = await self.containers.create(
            request.host_id,
            request.spec,
            progress,
            request.claude_code_version,
            request.extra_packages,
        )
        return m.HostReply(id=request.id, host=state)

    async def start_host(self, request: m.StartHost, _progress: ReportProgress) -> m.Reply:
        return m.HostReply(id=request.id, host=await self.containers.start(request.host_id))

    async def stop_host(self, request: m.StopHost, _progress: ReportProgress) -> m.Reply:
        state = await self.containers.stop(request.host_id, request.grace_s)
        await self.gateways.teardown(request.host_id)
        await self.checkouts.stop(request.host_id)
        return m.HostReply(id=request.id, host=state)

    async def remove_host(self, request: m.RemoveHost, _progress: ReportProgress) -> m.Reply:
        await self.containers.find(request.host_id)  # a foreign container: refused, untouched
        changed = await self.gateways.teardown(request.host_id)
        changed = await self.containers.remove(request.host_id, purge=request.purge) or changed
        await self.checkouts.stop(request.host_id)
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

    async def host_activity(self, request: m.HostActivity, _progress: ReportProgress) -> m.Reply:
        reply = await activity(self.containers, request.host_id, self.config.activity_max_pids)
        return attrs.evolve(reply, id=request.id)

    async def open_port(self, request: m.OpenPort, _progress: ReportProgress) -> SocketReply:
        sock = await open_port(self.containers, request.host_id, request.port)
        return SocketReply(m.PortOpened(id=request.id), sock)

    async def open_llm_listener(
        self, request: m.OpenLlmListener, _p: ReportProgress
    ) -> SocketReply:
        await self.containers.require(request.host_id, running=True)  # ours, and running
        opened, sock = await open_llm_listener(self.gateways, request.host_id)
        return SocketReply(attrs.evolve(opened, id=request.id), sock)

    async def setup_egress(self, request: m.SetupEgress, progress: ReportProgress) -> m.Reply:
        state = await self.gateways.setup(request.host_id, request.gateway, progress)
        return m.EgressReply(id=request.id, egress=state)

    async def teardown_egress(self, request: m.TeardownEgress, _p: ReportProgress) -> m.Reply:
        return m.Done(id=request.id, changed=await self.gateways.teardown(request.host_id))

    async def set_allowlist(self, request: m.SetAllowlist, _p: ReportProgress) -> m.Reply:
        state = await self.gateways.set_allowlist(request.host_id, request.allowed_domains)
        return m.EgressReply(id=request.id, egress=state)

    def _probe(self, request: m.VerifyEgress | m.ProbeExit) -> Probe:
        problems = []
        if len(request.url) > MAX_URL or not request.url.isprintable():
            problems.append(f"url must be printable, at most {MAX_URL} characters")
        if len(request.dns_name) > MAX_DNS_NAME or not request.dns_name.isprintable():
            problems.append(f"dns_name must be printable, at most {MAX_DNS_NAME} characters")
        if not (math.isfinite(request.timeout_s) and 0 < request.timeout_s <= MAX_PROBE_S):
            problems.append(f"timeout_s must be more than 0 and at most {MAX_PROBE_S}")
        if problems:
            raise errors.AgentError(errors.VALIDATION_FAILED, "; ".join(problems))
        return Probe(
            url=request.url,
            dns_name=request.dns_name,
            timeout_s=request.timeout_s,
            resolver=self.gateways.dns_address,
        )

    async def verify_egress(self, request: m.VerifyEgress, progress: ReportProgress) -> m.Reply:
        async def sockets(kind: int) -> trio.socket.SocketType:
            return await socket_in_box(self.containers, request.host_id, kind)

        probe = self._probe(request)
        await self.containers.require(request.host_id, running=True)  # ours, even to look
        return await observe(sockets, probe, progress, request.id)

    async def probe_exit(self, request: m.ProbeExit, progress: ReportProgress) -> m.Reply:
        spec, probe = for_exit_test(request.exit, self._probe(request))
        return await self.gateways.probe(spec, probe, progress, request.id)

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

    async def export_home(self, request: m.ExportHome, _p: ReportProgress) -> m.Reply:
        frozen = await self.archives.export(request.host_id, the_passed_socket)
        return m.HomeArchived(id=request.id, frozen=frozen)

    async def import_home(self, request: m.ImportHome, _p: ReportProgress) -> m.Reply:
        await self.archives.import_(request.host_id, request.disk_gb, the_passed_socket)
        return m.HomeArchived(id=request.id, frozen=False)

    async def mount_checkout(self, request: m.MountCheckout, _p: ReportProgress) -> m.Reply:
        pid = await self.checkouts.mount(request.host_id, request.path, the_passed_socket)
        return m.CheckoutMounted(id=request.id, path=request.path, sshfs_pid=pid)

    async def unmount_checkout(self, request: m.UnmountCheckout, _p: ReportProgress) -> m.Reply:
        await self.checkouts.unmount(request.host_id, request.path, request.sshfs_pid)
        return m.Done(id=request.id, changed=True)


def _host_checked(handler: Handler) -> Handler:
    """``handler`` behind the wire host-id check: no name or path is built from a bad id."""

    async def checked(request: Any, progress: ReportProgress) -> m.Reply | SocketReply:
        check_wire_host_id(request.host_id)
        return await handler(request, progress)

    return checked


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
            await nursery.start(runtime.checkouts.run)
            try:
                yield dispatcher
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await runtime.docker.aclose()
