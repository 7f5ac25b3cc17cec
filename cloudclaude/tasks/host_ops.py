"""Host operations as task pipelines: create, start, stop, rebuild, delete.

Every step asks the agent for an end state (create-if-absent, start-if-stopped, remove-if-
present), so a task reclaimed from a dead worker re-runs from the top safely. Each stage reached
is a ``task_events`` row (``container.created``, ``net.ready``, ``egress.verified``,
``ssh.ready``, …) that the bootstrap script and the pages follow.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.settings import TaskSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.repos import box_image
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.domain.host_specs import visible
from cloudclaude.errors import CloudClaudeError, net, state
from cloudclaude.model.hosts import Host
from cloudclaude.tasks.context import TaskContext
from cloudclaude.tasks.egress_step import EgressStep

Pipeline = Callable[[TaskContext], Awaitable[None]]


def box_spec(host: Host, *, llm_gateway: bool = False) -> m.BoxSpec:
    return m.BoxSpec(
        cpus=host.cpus,
        memory_mb=host.memory_mb,
        pids=host.pids,
        disk_gb=host.disk_gb,
        timezone=host.timezone,
        authorized_key=host.box_public_key or "",
        hostname=f"box-{host.short_id}",
        llm_gateway=llm_gateway,
    )


class HostOps:
    def __init__(self, agent: Agent, settings: TaskSettings, egress: EgressStep) -> None:
        self.agent = agent
        self.settings = settings
        self.egress = egress

    def pipeline(self, kind: str) -> Pipeline:
        pipelines: dict[str, Pipeline] = {
            "create": self.create,
            "start": self.start,
            "stop": self.stop,
            "rebuild": self.rebuild,
            "delete": self.delete,
            "verify_egress": self.verify_egress,
            "test_exit": self.egress.test_exit,
        }
        try:
            return pipelines[kind]
        except KeyError as exc:
            raise CloudClaudeError("validation_failed", f"unknown task kind {kind!r}") from exc

    async def _host(self, ctx: TaskContext) -> Host:
        return visible(await hosts_repo.get(ctx.db, ctx.host_id), ctx.host_id)

    async def _ensure_container(
        self, ctx: TaskContext, host: Host, base: int, span: int, *, fresh: bool
    ) -> None:
        """The host's container, made unless it exists. ``fresh``: there was none, so the
        agent makes it from its current image (building that first when its inputs changed),
        which is recorded as current: hosts on another image show outdated. Starting an
        existing container costs no image work."""
        gateway = await hosts_repo.owner_uses_llm_gateway(ctx.db, host.id)
        state = await self.agent.create_host(
            str(host.id),
            box_spec(host, llm_gateway=gateway),
            on_progress=ctx.agent_progress(base, span),
        )
        if fresh:
            await box_image.record(ctx.db, state.image)
        await ctx.set_host(image_ref=state.image, home_volume=str(host.id))
        await ctx.event("container.created", state.container_id[:12], base + span)

    async def create(self, ctx: TaskContext) -> None:
        """Make the container; with the ``start`` parameter (``start: true``) start it too."""
        host = await self._host(ctx)
        await self._ensure_container(ctx, host, 5, 85, fresh=True)
        await ctx.set_host("stopped", error_code=None, error_message=None)
        if ctx.task.params.get("start"):
            await ctx.event("host.created", "starting it now", 100)
            await self.start(ctx)
            return
        await ctx.event("host.created", "stopped", 100)

    async def start(self, ctx: TaskContext, *, fresh: bool = False) -> None:
        """Start the host; ``fresh``: its container was just removed (a rebuild)."""
        host = await self._host(ctx)
        bound = await self.egress.binding(host.id)  # no exit, no start: nothing is created
        await ctx.set_host("starting", error_code=None, error_message=None)
        await self._ensure_container(ctx, host, 5, 35, fresh=fresh)
        ctx.check_cancel()
        await self.agent.start_host(str(host.id))
        await ctx.event("container.started", "", 45)
        await self.egress.bring_up(ctx, bound, host.allowed_domains, 45, 40)
        banner = await self.wait_for_ssh(ctx, host)
        await ctx.event("ssh.ready", banner, 95)
        # A fresh start counts as activity: the idle clock starts now.
        await ctx.set_host("running", last_activity_at=utcnow())
        await ctx.event("host.running", "", 100)

    async def wait_for_ssh(self, ctx: TaskContext, host: Host) -> str:
        """The box's sshd banner through OpenPort, retried until it answers."""
        try:
            with trio.fail_after(self.settings.ssh_ready_timeout_s):
                while True:
                    ctx.check_cancel()
                    try:
                        sock = await self.agent.open_port(str(host.id), 22)
                    except AgentError as exc:
                        if exc.code != net.PORT_UNREACHABLE.code:
                            raise
                        await trio.sleep(0.05)
                        continue
                    banner = await _read_banner(sock)
                    if banner:
                        return banner
                    await trio.sleep(0.05)
        except trio.TooSlowError as exc:
            raise CloudClaudeError(
                "ssh_not_ready", f"sshd did not answer in {self.settings.ssh_ready_timeout_s}s"
            ) from exc

    async def verify_egress(self, ctx: TaskContext) -> None:
        """Verify a running host's egress again: back to ``running``, or ``degraded``."""
        host = await self._host(ctx)
        if host.status not in ("running", "degraded"):
            raise CloudClaudeError("host_not_running", f"host {host.id} is {host.status}")
        exit_, _spec = await self.egress.binding(host.id)
        try:
            await self.egress.verify(ctx, exit_, 50)
        except CloudClaudeError as exc:
            await ctx.set_host("degraded", error_code=exc.error.code, error_message=exc.detail)
            raise
        await ctx.set_host("running", error_code=None, error_message=None)
        await ctx.event("host.running", "egress verified again", 100)

    async def stop(self, ctx: TaskContext) -> None:
        host = await self._host(ctx)
        await ctx.set_host("stopping")
        try:
            await self.agent.stop_host(str(host.id))
        except AgentError as exc:
            # No container: already as stopped as it gets.
            if exc.code != state.CONTAINER_MISSING.code:
                raise
        await ctx.event("container.stopped", "", 60 if host.roll_pending else 90)
        if host.roll_pending:
            # ``hosts roll`` asked for a rebuild at this stop: a new container, home kept.
            await self.agent.remove_host(str(host.id), purge=False)
            await ctx.event("container.removed", "rolled to the current image, home kept", 70)
            await self._ensure_container(ctx, host, 70, 25, fresh=True)
        await ctx.set_host("stopped", error_code=None, error_message=None, roll_pending=False)
        await ctx.event("host.stopped", "", 100)

    async def rebuild(self, ctx: TaskContext) -> None:
        """A new container from the current image; the home volume stays."""
        host = await self._host(ctx)
        await ctx.set_host("stopping")
        await self.agent.remove_host(str(host.id), purge=False)
        await ctx.event("container.removed", "home volume kept", 20)
        await ctx.set_host(roll_pending=False)
        if host.desired_state == "running":
            await self.start(ctx, fresh=True)
            return
        await self._ensure_container(ctx, host, 25, 70, fresh=True)
        await ctx.set_host("stopped", error_code=None, error_message=None, roll_pending=False)
        await ctx.event("host.rebuilt", "stopped", 100)

    async def delete(self, ctx: TaskContext) -> None:
        host = await hosts_repo.get(ctx.db, ctx.host_id)
        if host is None:
            return
        purge = bool(ctx.task.params.get("purge", False))
        await ctx.set_host("deleting")
        await self.agent.remove_host(str(host.id), purge=purge)
        await ctx.event("container.removed", "home volume removed" if purge else "", 90)
        await ctx.set_host("deleted", desired_state="deleted")
        await ctx.event("host.deleted", "", 100)


async def _read_banner(sock: socket.socket) -> str:
    """The first line sshd sends (empty when the connection closed first)."""
    sock.setblocking(False)
    async with trio.SocketStream(trio.socket.from_stdlib_socket(sock)) as stream:
        with trio.move_on_after(5):
            data = await stream.receive_some(256)
            return data.decode(errors="replace").strip()
    return ""
