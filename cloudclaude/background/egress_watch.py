"""The egress watch: gateways whose sing-box died, exits that stopped answering, and the
firewall's drop counts.

The agent restarts a dead sing-box at once and counts the trip (nothing left the box meanwhile:
the only route went with the tun). Here a rising trip count marks the host ``degraded`` with
``egress_tunnel_down`` and queues a ``verify_egress`` task, audited as
``egress.killswitch.tripped``; the verification puts it back to ``running`` or keeps it
degraded. Counts seen before this process started are the baseline, not news.

An exit can also go down while its hosts run (the proxy server stops, refuses, or sends traffic
from another address). With ``exits`` given, every ``egress.exit_check_s`` each verified exit in use
is checked through one of its running hosts, as a ``verify_egress`` would (the same three steps,
from inside that box). A failed check marks every running host on that exit ``degraded`` with
the step's code (``egress_verify_unreachable``, NET_004, for a dead exit) and the exit
``failed``; nothing leaks meanwhile, since the gateway only ever sends to the exit. Once a check
passes again, each host it degraded gets a ``verify_egress`` task, audited as
``egress.exit.recovered``, which returns it to ``running``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.domain.egress_check import Step, judge
from cloudclaude.domain.errors import DatabaseError
from cloudclaude.errors import CloudClaudeError, by_slug, net
from cloudclaude.model.exits import Exit
from cloudclaude.model.hosts import Host, HostAction
from cloudclaude.model.tasks import Task

log = structlog.get_logger(component="egress")
#: How often the firewall's drop counts are read for the metrics.
COUNTERS_EVERY_S = 30.0
#: Codes of a failed egress check: a host degraded with one of them comes back once its exit
#: passes a check again.
EXIT_FAILURES = frozenset(
    {
        net.EGRESS_VERIFY_UNREACHABLE.code,
        net.EGRESS_IP_MISMATCH.code,
        net.EGRESS_DNS_LEAK.code,
    }
)


class GatewaySource(Protocol):
    async def list_gateways(self) -> m.GatewayList: ...
    async def egress_counters(self) -> dict[str, int]: ...
    async def verify_egress(
        self, host_id: str, *, url: str, dns_name: str, timeout_s: float
    ) -> m.VerifyReply: ...


class TripHandler(Protocol):
    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool: ...
    async def system_action(
        self, host_id: uuid.UUID, action: HostAction, audit_type: str, reason: str
    ) -> Task | None: ...
    async def running_hosts(self) -> list[Host]: ...


class ExitSource(Protocol):
    async def get(self, exit_id: uuid.UUID) -> Exit: ...
    async def record_verification(self, exit_id: uuid.UUID, ok: bool, detected_ip: str) -> None: ...


class EgressWatch:
    name = "egress"

    def __init__(
        self,
        agent: GatewaySource,
        hosts: TripHandler,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
        exits: ExitSource | None = None,
    ) -> None:
        self.agent = agent
        self.hosts = hosts
        self.live = live
        self.stopping = stopping
        self.metrics = metrics
        #: Without it, exits are not checked (only kill-switch trips are watched).
        self.exits = exits
        self._seen: dict[str, int] | None = None
        self._counters_due = -math.inf
        #: Exits whose last check failed (their failure recorded once, not every interval).
        self._down: set[uuid.UUID] = set()

    async def scan_once(self) -> list[uuid.UUID]:
        """The hosts whose kill switch tripped since the last scan (each handled)."""
        listing = await self.agent.list_gateways()
        current = {gateway.host_id: gateway.trips for gateway in listing.gateways}
        tripped: list[uuid.UUID] = []
        if self._seen is not None:
            for host_id, trips in current.items():
                if trips > self._seen.get(host_id, 0):
                    tripped.append(uuid.UUID(host_id))
                    await self._tripped(uuid.UUID(host_id), trips)
        self._seen = current
        if self.metrics is not None:
            self.metrics.egress_gateway_watch_errors.set(listing.watch_errors)
        now = trio.current_time()
        if self.metrics is not None and now >= self._counters_due:
            # One nft call per gateway: the drop counts are read far less often than trips.
            self._counters_due = now + COUNTERS_EVERY_S
            for rule, packets in (await self.agent.egress_counters()).items():
                self.metrics.egress_dropped.labels(rule).set(packets)
        return tripped

    async def _tripped(self, host_id: uuid.UUID, trips: int) -> None:
        log.warning("killswitch_tripped", host_id=str(host_id), trips=trips)
        if self.metrics is not None:
            self.metrics.egress_killswitch_trips.inc()
        message = f"sing-box died (trip {trips}); traffic held until verified again"
        if not await self.hosts.mark_degraded(host_id, net.EGRESS_TUNNEL_DOWN.code, message):
            return  # not running (stopping, deleted): nothing to verify
        await self.hosts.system_action(
            host_id, "verify_egress", "egress.killswitch.tripped", message
        )

    # --- exits --------------------------------------------------------------------------------

    async def check_exits_once(self) -> dict[uuid.UUID, bool]:
        """Check every verified exit that running hosts use, through one of its hosts whose
        gateway is up: exit id → passed (exits that could not be checked are left out)."""
        if self.exits is None:
            return {}
        listing = await self.agent.list_gateways()
        up = {gateway.host_id for gateway in listing.gateways if gateway.running}
        by_exit: dict[uuid.UUID, list[Host]] = {}
        for host in await self.hosts.running_hosts():
            if host.egress is not None and host.egress.verified:
                by_exit.setdefault(host.egress.id, []).append(host)
        results: dict[uuid.UUID, bool] = {}
        async with trio.open_nursery() as nursery:
            for exit_id, hosts in by_exit.items():
                nursery.start_soon(self._check_exit, exit_id, hosts, up, results)
        return results

    async def _check_exit(
        self,
        exit_id: uuid.UUID,
        hosts: list[Host],
        up: set[str],
        results: dict[uuid.UUID, bool],
    ) -> None:
        assert self.exits is not None
        # A running host's box first; a degraded one still has its gateway.
        ready = [host for host in hosts if str(host.id) in up]
        ready.sort(key=lambda host: host.status != "running")
        if not ready:
            return
        try:
            exit_ = await self.exits.get(exit_id)
            reply = await self.agent.verify_egress(
                str(ready[0].id),
                url=exit_.verify_url or "",
                dns_name=exit_.verify_dns_name or "",
                timeout_s=self.live.current.egress.verify_timeout_s,
            )
        except (AgentError, CloudClaudeError) as exc:
            # The box or its gateway went (a stop, a rebuild): that says nothing of the exit.
            log.info("exit_check_skipped", exit_id=str(exit_id), error=str(exc))
            return
        verdict = judge(
            reply,
            url=exit_.verify_url or "",
            expected_ip=exit_.expected_ip or "",
            dns_name=exit_.verify_dns_name or "",
            expected_resolvers=exit_.expected_resolvers,
        )
        results[exit_id] = verdict.ok
        failed = verdict.failure
        if failed is not None:
            await self._exit_down(exit_, hosts, by_slug(failed.failure).code, failed)
        else:
            await self._exit_up(exit_, hosts)

    async def _exit_down(self, exit_: Exit, hosts: list[Host], code: str, failed: Step) -> None:
        message = f"exit {exit_.label} failed its check ({failed.name}: {failed.detail})"
        if exit_.id not in self._down:
            self._down.add(exit_.id)
            log.warning("exit_down", exit_id=str(exit_.id), label=exit_.label, code=code)
            assert self.exits is not None
            await self.exits.record_verification(exit_.id, False, "")
        for host in hosts:
            if host.status == "running":
                await self.hosts.mark_degraded(host.id, code, message)

    async def _exit_up(self, exit_: Exit, hosts: list[Host]) -> None:
        if exit_.id in self._down:
            self._down.discard(exit_.id)
            log.info("exit_up", exit_id=str(exit_.id), label=exit_.label)
        reason = f"exit {exit_.label} passes its check again"
        for host in hosts:
            if host.status == "degraded" and host.error_code in EXIT_FAILURES:
                await self.hosts.system_action(
                    host.id, "verify_egress", "egress.exit.recovered", reason
                )

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with trio.open_nursery() as nursery:
            egress = self.live.current.egress
            nursery.start_soon(self._every_interval, self.scan_once, "watch_interval_s")
            if self.exits is not None and egress.exit_check_s > 0:
                # Its own loop: a slow exit never holds up trips. Slower, too: each check is a
                # request to the exit's verify_url and a DNS query through the exit.
                nursery.start_soon(self._every_interval, self.check_exits_once, "exit_check_s")

    async def _every_interval(self, step: Callable[[], Awaitable[object]], every: str) -> None:
        while not self.stopping.is_set():
            try:
                await step()
            except (AgentError, DatabaseError, CloudClaudeError) as exc:
                log.warning("egress_watch_failed", error=str(exc))
                if self.metrics is not None:
                    self.metrics.egress_watch_failures.inc()
            with trio.move_on_after(getattr(self.live.current.egress, every)):
                await self.stopping.wait()
