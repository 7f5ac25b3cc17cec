"""The expiry scanner: records ``expired`` for users whose ``expires_at`` passed.

Login already refuses such users the moment their expiry passes; the scanner makes the status
visible and writes one ``user.expired`` audit event per user. Hosts of expired users that are
meant to run get a ``stop`` task, audited as ``host.stop.expired``. Expiring a user ends every
session of theirs (``cloudclaude.domain.sessions``), and each round deletes the sign-in sessions
whose lifetime is over.
"""

from __future__ import annotations

import structlog
import trio

from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.db.errors import DatabaseError
from cloudclaude.domain.accounts import Accounts
from cloudclaude.domain.hosts import Hosts
from cloudclaude.model.audit import SYSTEM

log = structlog.get_logger(component="expiry")


class ExpiryScanner:
    name = "expiry"

    def __init__(
        self,
        accounts: Accounts,
        hosts: Hosts,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
    ) -> None:
        self._accounts = accounts
        self._hosts = hosts
        self._metrics = metrics
        self._live = live
        self._stopping = stopping

    async def scan_once(self) -> int:
        expired = await self._accounts.expire_due(SYSTEM)
        for user in expired:
            log.info("user_expired", user_id=str(user.id), username=user.username)
        ended = await self._accounts.sessions.delete_expired()
        if ended:
            log.debug("auth_sessions_expired", count=ended)
        stopped = await self._hosts.stop_expired()
        for task in stopped:
            log.info("host_stop_expired", host_id=str(task.host_id), task_id=str(task.id))
        if self._metrics is not None:
            self._metrics.scanner_actions.labels("expiry", "user_expired").inc(len(expired))
            self._metrics.scanner_actions.labels("expiry", "host_stopped").inc(len(stopped))
        return len(expired)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self._stopping.is_set():
            try:
                await self.scan_once()
            except DatabaseError as exc:
                log.warning("expiry_scan_failed", error=str(exc))
            # The period is read each round, so SIGHUP changes apply from the next one.
            with trio.move_on_after(self._live.current.scanners.expiry_period_s):
                await self._stopping.wait()
