"""The egress part of a start, and on-demand verification (DESIGN.md section 7).

A host starts only with an exit bound to it. Once its container runs, the agent builds the
gateway (netns, veths, nftables, sing-box) and the daemon verifies from inside the box: every
step becomes a task event (``egress.http``, ``egress.address``, ``egress.dns``) that the pages
and the bootstrap script follow, and a failed step fails the start with its ``NET_*`` code. An
exit without verification endpoints (allowed only for ``direct``) is recorded as unverified.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.domain.egress_check import Verdict, judge, udp_step
from cloudclaude.errors import CloudClaudeError
from cloudclaude.tasks.context import TaskContext

log = structlog.get_logger(component="egress")
STOP_GRACE_S = 30.0


class BoundExit(Protocol):
    """What the start needs of an exit (the exits service's model)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def expected_ip(self) -> str | None: ...
    @property
    def verify_url(self) -> str | None: ...
    @property
    def verify_dns_name(self) -> str | None: ...
    @property
    def expected_resolvers(self) -> Sequence[str]: ...


class ExitLookup(Protocol):
    async def exit_for_host(self, host_id: uuid.UUID) -> tuple[BoundExit, m.ExitSpec] | None: ...

    async def exit_and_spec(self, exit_id: uuid.UUID) -> tuple[BoundExit, m.ExitSpec]: ...

    async def record_verification(self, exit_id: uuid.UUID, ok: bool, detected_ip: str) -> None: ...


def verification_targets(exit_: BoundExit) -> list[str]:
    """The host of ``verify_url``: reachable whatever a host's allowlist says."""
    host = urllib.parse.urlsplit(exit_.verify_url or "").hostname
    return [host] if host else []


#: Told each time a host's gateway was (re)built: the credentials endpoint moves into it.
GatewayReady = Callable[[uuid.UUID], Awaitable[None]]


class EgressStep:
    def __init__(
        self,
        agent: Agent,
        exits: ExitLookup | None,
        live: LiveSettings,
        metrics: Metrics | None = None,
        gateway_ready: GatewayReady | None = None,
    ) -> None:
        self.agent = agent
        self.exits = exits
        self.live = live
        self.metrics = metrics
        self.gateway_ready = gateway_ready

    async def binding(self, host_id: uuid.UUID) -> tuple[BoundExit, m.ExitSpec]:
        found = None if self.exits is None else await self.exits.exit_for_host(host_id)
        if found is None:
            raise CloudClaudeError("egress_binding_missing", f"host {host_id} has no exit")
        return found

    async def bring_up(
        self,
        ctx: TaskContext,
        bound: tuple[BoundExit, m.ExitSpec],
        allowed_domains: Sequence[str],
        base: int,
        span: int,
    ) -> None:
        """Gateway, firewall and sing-box, then verification; a failure stops the box again."""
        exit_, spec = bound
        host_id = str(ctx.host_id)
        gateway = m.GatewaySpec(
            exit=spec,
            allowed_domains=list(allowed_domains),
            always_allowed=verification_targets(exit_),
        )
        try:
            state = await self.agent.setup_egress(
                host_id, gateway, on_progress=ctx.agent_progress(base, span // 2)
            )
            await ctx.event(
                "net.ready", f"{exit_.kind} exit {exit_.label} via {state.netns}", base + span // 2
            )
            if self.gateway_ready is not None:
                await self.gateway_ready(ctx.host_id)
            await self.verify(ctx, exit_, base + span // 2)
        except BaseException:
            # A box whose egress is not proven does not keep running (nor its gateway).
            with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE_S):
                try:
                    await self.agent.stop_host(host_id, grace_s=0)
                except Exception as exc:  # noqa: BLE001 (the first failure is the one reported)
                    log.warning("stop_after_egress_failure", host_id=host_id, error=repr(exc))
            raise

    async def verify(self, ctx: TaskContext, exit_: BoundExit, percent: int) -> Verdict | None:
        """Verify the running box's egress; None (and an event saying so) for an unverified exit."""
        if not exit_.verify_url and not exit_.verify_dns_name:
            await ctx.event("egress.unverified", f"{exit_.kind} exit without endpoints", percent)
            return None
        reply = await self.agent.verify_egress(
            str(ctx.host_id),
            url=exit_.verify_url or "",
            dns_name=exit_.verify_dns_name or "",
            timeout_s=self.live.current.egress.verify_timeout_s,
        )
        return await self._judge(ctx, exit_, reply, percent)

    async def test_exit(self, ctx: TaskContext) -> None:
        """An exit on its own: a throwaway namespace behind a gateway, verified like a box."""
        if self.exits is None:
            raise CloudClaudeError("exit_not_found", "no exits are configured here")
        exit_, spec = await self.exits.exit_and_spec(uuid.UUID(str(ctx.task.params["exit_id"])))
        await ctx.event("egress.probe", f"{exit_.kind} exit {exit_.label}", 5)
        reply = await self.agent.probe_exit(
            spec,
            url=exit_.verify_url or "",
            dns_name=exit_.verify_dns_name or "",
            timeout_s=self.live.current.egress.verify_timeout_s,
            on_progress=ctx.agent_progress(5, 60),
        )
        udp = udp_step(reply, spec)  # advice, never a failure: DNS goes over TCP anyway
        await ctx.event("egress.udp", udp.detail)
        if not exit_.verify_url and not exit_.verify_dns_name:
            await ctx.event("egress.unverified", "the gateway came up; nothing to verify", 100)
            return
        await self._judge(ctx, exit_, reply, 100)

    async def _judge(
        self, ctx: TaskContext, exit_: BoundExit, reply: m.VerifyReply, percent: int
    ) -> Verdict:
        verdict = judge(
            reply,
            url=exit_.verify_url or "",
            expected_ip=exit_.expected_ip or "",
            dns_name=exit_.verify_dns_name or "",
            expected_resolvers=exit_.expected_resolvers,
        )
        for step in verdict.steps:
            await ctx.event(
                f"egress.{step.name}", f"{'ok' if step.ok else 'failed'}: {step.detail}"
            )
        if self.exits is not None:
            await self.exits.record_verification(exit_.id, verdict.ok, verdict.detected_ip)
        failed = verdict.failure
        if self.metrics is not None:
            self.metrics.egress_verifications.labels(failed.name if failed else "ok").inc()
        if failed is not None:
            raise CloudClaudeError(failed.failure, f"{failed.name}: {failed.detail}")
        await ctx.event("egress.verified", f"through {verdict.detected_ip or exit_.label}", percent)
        return verdict
