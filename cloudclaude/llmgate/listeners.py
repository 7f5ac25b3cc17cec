"""The daemon's component holding every running host's credentials endpoint.

For each running host the agent hands over a socket listening inside its gateway; this serves
it, with an HTTP client whose only way out is that gateway's sing-box proxy (so the upstream
sees the host's exit address). ``attach`` runs right after a gateway is set up (a new gateway
is a new namespace: the old socket is closed first); a sync every ``SYNC_S`` attaches the
running hosts that have none (after a daemon restart) and lets go of hosts no longer running,
so a stopped gateway's namespace is not kept alive by a socket in it.
"""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from collections.abc import Sequence
from typing import Protocol

import attrs
import structlog
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.core import local_ca
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.core.tls import base_url
from cloudclaude.domain.errors import DatabaseError
from cloudclaude.errors import CloudClaudeError
from cloudclaude.llmgate.forwarder import HostLink, Policy, serve_connection
from cloudclaude.llmgate.upstream import Proxy, Target, Upstream
from cloudclaude.llmgate.usage_parse import Counts
from cloudclaude.model.hosts import Host, HostStatus

log = structlog.get_logger(component="llm_gateway")
SYNC_S = 5.0
#: Connections one box may hold open at once; past it, accepting waits.
MAX_CONNECTIONS_PER_HOST = 256
MAX_MODEL_LABELS = 32
_MODEL = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")


class RunningHosts(Protocol):
    async def with_status(self, *statuses: HostStatus) -> Sequence[Host]: ...


class ListenerSource(Protocol):
    async def open_llm_listener(
        self, host_id: str
    ) -> tuple[m.LlmListenerOpened, socket.socket]: ...


@attrs.define(eq=False)
class _Served:
    link: HostLink
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)


class LlmGateway:
    name = "llm_gateway"

    def __init__(
        self,
        agent: ListenerSource,
        hosts: RunningHosts,
        policy: Policy,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
    ) -> None:
        self.agent = agent
        self.hosts = hosts
        self.policy = policy
        self.live = live
        self.stopping = stopping
        self.metrics = metrics
        self._served: dict[uuid.UUID, _Served] = {}
        self._nursery: trio.Nursery | None = None
        self._lock = trio.Lock()
        self._models: set[str] = set()

    @property
    def hosts_served(self) -> set[uuid.UUID]:
        return set(self._served)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self._sync_once()  # boxes already running (a restart) are served at once
                task_status.started()
                while not self.stopping.is_set():
                    with trio.move_on_after(SYNC_S):
                        await self.stopping.wait()
                    await self._sync_once()
            finally:
                self._nursery = None
                for host_id in list(self._served):
                    self._let_go(host_id)

    async def _sync_once(self) -> None:
        try:
            await self.sync()
        except (AgentError, DatabaseError, CloudClaudeError) as exc:
            log.warning("llm_gateway_sync_failed", error=str(exc))

    async def sync(self) -> None:
        """Serve every running host; let go of every host that is not running or starting."""
        keep = {h.id for h in await self.hosts.with_status("running", "degraded", "starting")}
        running = {h.id for h in await self.hosts.with_status("running", "degraded")}
        for host_id in set(self._served) - keep:
            self._let_go(host_id)
        for host_id in running - set(self._served):
            try:
                await self.attach(host_id)
            except AgentError as exc:  # its gateway is being rebuilt: the next sync tries again
                log.info("llm_listener_not_ready", host_id=str(host_id), error=exc.message)

    async def attach(self, host_id: uuid.UUID) -> None:
        """Serve the host's (new) gateway; its old one, if any, is let go of first."""
        nursery = self._nursery
        if nursery is None:
            return
        async with self._lock:
            self._let_go(host_id)
            opened, sock = await self.agent.open_llm_listener(str(host_id))
            link = HostLink(
                host_id=host_id,
                upstream=self._upstream(opened),
                policy=self.policy,
                observe=self._observe,
            )
            served = _Served(link)
            self._served[host_id] = served
            await nursery.start(self._serve, served, sock)
        log.info("llm_listener_attached", host_id=str(host_id))

    async def gateway_ready(self, host_id: uuid.UUID) -> None:
        """A start's hook: never fails the start (the next sync tries again)."""
        try:
            await self.attach(host_id)
        except AgentError as exc:
            log.warning("llm_listener_not_attached", host_id=str(host_id), error=exc.message)

    def detach(self, host_id: uuid.UUID) -> None:
        self._let_go(host_id)

    def _let_go(self, host_id: uuid.UUID) -> None:
        served = self._served.pop(host_id, None)
        if served is not None:
            served.scope.cancel()

    def _upstream(self, opened: m.LlmListenerOpened) -> Upstream:
        """Connections to ``credentials.anthropic_upstream`` through this gateway's proxy."""
        settings = self.live.current.credentials
        proxy = Proxy(
            address=opened.proxy_address,
            port=opened.proxy_port,
            username=opened.proxy_username,
            password=opened.proxy_password,
        )
        target = Target.parse(settings.anthropic_upstream)
        return Upstream(target, proxy, _tls_context(settings.upstream_ca_file))

    async def _serve(
        self, served: _Served, sock: socket.socket, *, task_status: trio.TaskStatus[None]
    ) -> None:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        slots = trio.Semaphore(MAX_CONNECTIONS_PER_HOST)
        try:
            with served.scope:
                task_status.started()
                async with trio.open_nursery() as connections:
                    while True:
                        await slots.acquire()
                        try:
                            stream = await listener.accept()
                        except BaseException:
                            slots.release()
                            raise
                        connections.start_soon(self._one, served.link, stream, slots)
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
                await served.link.upstream.aclose()
            log.info("llm_listener_closed", host_id=str(served.link.host_id))

    @staticmethod
    async def _one(link: HostLink, stream: trio.SocketStream, slots: trio.Semaphore) -> None:
        """One box connection; whatever goes wrong in it stays in it (logged)."""
        try:
            await serve_connection(stream, link)
        except Exception:
            log.exception("llm_connection_failed", host_id=str(link.host_id))
        finally:
            slots.release()

    def _observe(self, model: str, outcome: str, counts: Counts) -> None:
        if self.metrics is None:
            return
        label = self._model_label(model)
        self.metrics.llm_requests.labels(label, outcome).inc()
        for kind, value in (
            ("input", counts.input_tokens),
            ("output", counts.output_tokens),
            ("cache_creation", counts.cache_creation_tokens),
            ("cache_read", counts.cache_read_tokens),
        ):
            if value:
                self.metrics.llm_tokens.labels(label, kind).inc(value)

    def _model_label(self, model: str) -> str:
        """A bounded label: the first ``MAX_MODEL_LABELS`` well-formed names, then "other"."""
        if not model:
            return "none"
        if model in self._models:
            return model
        if _MODEL.fullmatch(model) and len(self._models) < MAX_MODEL_LABELS:
            self._models.add(model)
            return model
        return "other"


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """The system's trust store, plus ``credentials.upstream_ca_file`` when set."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def page_url(settings: Settings) -> str:
    """Where a user adds or asks for a key: their page, named in the endpoint's refusals."""
    return base_url(settings, local_ca.machine_names()[0]) + "/me"
