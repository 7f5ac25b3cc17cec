"""The supervisor: one trio nursery tree over every component (DESIGN.md section 2).

``run`` opens the trio-asyncio loop, the database pool, builds the services and starts each
component with ``nursery.start(component.run)`` in dependency order; each calls
``task_status.started()`` only once it serves. SIGTERM/SIGINT set ``stopping`` (components stop
accepting and return) and give the tree ``grace_s`` before it is cancelled; SIGHUP reloads the
run-time settings. A component that crashes, or returns while nobody asked it to stop, fails the
whole tree, and the process exits non-zero so systemd restarts it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog
import trio
import trio_asyncio

from cloudclaude.agent_client.handle import open_agent
from cloudclaude.app import systemd, wiring
from cloudclaude.background.backup_schedule import BackupSchedule
from cloudclaude.background.egress_watch import EgressWatch
from cloudclaude.background.expiry import ExpiryScanner
from cloudclaude.background.host_stats import StatsSampler
from cloudclaude.background.idle import IdleScanner
from cloudclaude.background.reconciler import Reconciler
from cloudclaude.background.revocation import RevocationWatch
from cloudclaude.core import logging as cc_logging
from cloudclaude.core import settings as settings_mod
from cloudclaude.core.settings import LiveSettings, SettingsDiff
from cloudclaude.core.status import StatusBoard
from cloudclaude.ctl.server import CtlServer
from cloudclaude.db import migrate
from cloudclaude.db.pool import Database
from cloudclaude.llmgate.listeners import LlmGateway, page_url
from cloudclaude.llmgate.policy import DomainPolicy
from cloudclaude.sshproxy.server import ProxyContext, SshProxy
from cloudclaude.tasks.workers import TaskWorkers
from web.app import create_app
from web.server import WebServer

log = structlog.get_logger(component="supervisor")


class Component(Protocol):
    name: str

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


class ComponentExited(Exception):
    """A component returned although the supervisor had not asked it to stop."""


def _only_cancelled(exc: BaseException) -> bool:
    """True for ``trio.Cancelled``, bare or wrapped in (nested) exception groups only."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        return rest is None
    return isinstance(exc, trio.Cancelled)


class Supervisor:
    def __init__(
        self,
        components: Sequence[Component],
        *,
        grace_s: float,
        status: StatusBoard,
        stopping: trio.Event,
        reload: Callable[[], Awaitable[SettingsDiff]] | None = None,
        notify: Callable[..., bool] = systemd.notify,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self._components = components
        self._grace_s = grace_s
        self._status = status
        self.stopping = stopping
        self._reload = reload
        self._notify = notify
        self._on_ready = on_ready
        self.drain_cut_short = False

    def stop(self, reason: str) -> None:
        if not self.stopping.is_set():
            log.info("stopping", reason=reason, grace_s=self._grace_s)
            self._notify("STOPPING=1", f"STATUS=stopping ({reason})")
            self.stopping.set()

    async def serve(self, *, handle_signals: bool = True) -> None:
        """Run every component until stopped; raises if one crashes."""
        async with trio.open_nursery() as outer:
            if handle_signals:
                await outer.start(self._signal_loop)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._deadline_after_stop, nursery.cancel_scope)
                for component in self._components:
                    if self.stopping.is_set():
                        break
                    await nursery.start(self._run_one, component)
                if not self.stopping.is_set():
                    names = ", ".join(c.name for c in self._components)
                    self._notify("READY=1", f"STATUS=serving: {names}")
                    log.info("ready", components=names)
                    if self._on_ready is not None:
                        self._on_ready()
                await self.stopping.wait()
            outer.cancel_scope.cancel()

    async def _deadline_after_stop(self, scope: trio.CancelScope) -> None:
        await self.stopping.wait()
        scope.deadline = trio.current_time() + self._grace_s

    async def _run_one(
        self, component: Component, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        name = component.name
        self._status.set(name, "starting")
        try:
            async with trio.open_nursery() as inner:
                await inner.start(component.run)
                self._status.set(name, "running")
                log.info("component_started", name=name)
                task_status.started()
        except BaseException as exc:
            if _only_cancelled(exc):
                self._status.set(name, "stopped")
                if self.stopping.is_set():
                    self.drain_cut_short = True
                    log.warning("component_cancelled_after_grace", name=name)
            else:
                self._status.set(name, "failed")
                log.exception("component_crashed", name=name)
            raise
        if not self.stopping.is_set():
            self._status.set(name, "failed")
            raise ComponentExited(f"component {name!r} exited unexpectedly")
        self._status.set(name, "stopped")
        log.info("component_stopped", name=name)

    async def _signal_loop(self, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self._do_reload()
                else:
                    self.stop(signal.Signals(signum).name)

    async def _do_reload(self) -> None:
        if self._reload is None:
            return
        self._notify("RELOADING=1")
        try:
            await self._reload()
        except settings_mod.SettingsError as exc:
            log.error("reload_rejected", error=str(exc))
        finally:
            self._notify("READY=1")


def make_reloader(
    live: LiveSettings, services: wiring.Services
) -> Callable[[], Awaitable[SettingsDiff]]:
    """Re-read the config file and environment; apply the reloadable keys, log the rest."""

    async def reload() -> SettingsDiff:
        new = live.reread()
        changes = settings_mod.diff(live.current, new)
        live.current = settings_mod.merge_reloadable(live.current, new)
        cc_logging.set_level(live.current.log.level)
        services.accounts.configure_limits(live.current.rate_limits)
        services.ssh_access.configure_limits(live.current.rate_limits)
        if services.tls is not None:  # the same files, read again: a renewed certificate
            await trio.to_thread.run_sync(services.tls.reload)
        # Logged at warning so the record survives a reload that raises the log level.
        log.warning(
            "settings_reloaded",
            applied=list(changes.applied),
            needs_restart=list(changes.needs_restart),
        )
        return changes

    return reload


def proxy_context(services: wiring.Services) -> ProxyContext:
    return ProxyContext(
        db=services.db,
        access=services.ssh_access,
        hosts=services.hosts,
        agent=services.agent,
        metrics=services.metrics,
        live=services.live,
        sessions=services.live_sessions,
    )


def llm_gateway(services: wiring.Services, stopping: trio.Event) -> LlmGateway:
    """The credentials endpoint of every running box (the task workers tell it of new ones)."""
    live = services.live
    policy = DomainPolicy(services.credentials, services.llm_usage, page_url(live.current))
    return LlmGateway(services.agent, services.hosts, policy, live, stopping, services.metrics)


async def run(
    live: LiveSettings, *, on_ready: Callable[[wiring.Services], None] | None = None
) -> bool:
    """The daemon: returns True when it stopped cleanly; raises when a component crashed."""
    settings = live.current
    db_settings = settings.database
    async with trio_asyncio.open_loop(), contextlib.AsyncExitStack() as stack:
        with trio.fail_after(db_settings.connect_timeout_s * 2):
            db = await stack.enter_async_context(
                Database.open(
                    db_settings.url,
                    min_size=db_settings.pool_min,
                    max_size=db_settings.pool_max,
                    connect_timeout_s=db_settings.connect_timeout_s,
                )
            )
        applied = await migrate.apply_all(db)
        if applied:
            log.info("migrations_applied", versions=[m.version for m in applied])
        agent = await stack.enter_async_context(open_agent(settings))
        services = await wiring.build(live, db, agent)
        services.reload = make_reloader(live, services)
        stopping = trio.Event()
        llm = llm_gateway(services, stopping)
        components: list[Component] = [
            llm,
            TaskWorkers(
                db,
                agent,
                live,
                services.metrics,
                stopping,
                exits=services.exits,
                gateway_ready=llm.gateway_ready,
            ),
            Reconciler(agent, services.hosts, services.audit, live, services.metrics, stopping),
            ExpiryScanner(services.accounts, services.hosts, live, stopping, services.metrics),
            IdleScanner(services.hosts, agent, live, stopping, services.metrics),
            StatsSampler(services.hosts, agent, services.usage, live, stopping),
            EgressWatch(agent, services.hosts, live, stopping, services.metrics, services.exits),
            RevocationWatch(db, services.live_sessions, live, stopping, services.metrics),
            BackupSchedule(services.backups, live, stopping),
            WebServer(create_app(live, services), settings.web, stopping, services.tls),
            SshProxy(proxy_context(services), services.ssh_host_key, stopping),
            CtlServer(services, settings.ctl, stopping),
        ]
        supervisor = Supervisor(
            components,
            grace_s=settings.supervisor.grace_s,
            status=services.status,
            stopping=stopping,
            reload=services.reload,
            on_ready=(lambda: on_ready(services)) if on_ready is not None else None,
        )
        await supervisor.serve()
        return not supervisor.drain_cut_short
