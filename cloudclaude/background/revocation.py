"""The revocation watch: ends live SSH sessions and web terminals whose user's sessions ended.

Every ``ssh.revocation_check_s`` (reloadable) it asks Postgres, in one query, for the users of
all live sessions (``LiveSessions.due``) and ends those that no longer hold: password changed
or reset (``session_epoch`` went up), account disabled, expired or deleted, admin role removed.
The sessions themselves tell their client why and audit the close with the reason.
"""

from __future__ import annotations

import structlog
import trio

from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database
from cloudclaude.domain.live_sessions import LiveSessions

log = structlog.get_logger(component="revocation")


class RevocationWatch:
    name = "revocation"

    def __init__(
        self,
        db: Database,
        sessions: LiveSessions,
        live: LiveSettings,
        stopping: trio.Event,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._live = live
        self._stopping = stopping
        self._metrics = metrics

    async def check_once(self) -> int:
        """End the sessions that no longer hold; how many were ended."""
        ended = 0
        for session, reason in await self._sessions.due(self._db, utcnow()):
            if self._sessions.end(session, reason):
                ended += 1
                log.info(
                    "live_session_ended",
                    user_id=str(session.user_id),
                    channel=session.channel,
                    reason=reason,
                )
        if ended and self._metrics is not None:
            self._metrics.scanner_actions.labels("revocation", "session_ended").inc(ended)
        return ended

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while not self._stopping.is_set():
            try:
                with trio.move_on_after(max(self._live.current.ssh.revocation_check_s, 1.0) * 5):
                    await self.check_once()
            except DatabaseError as exc:
                log.warning("revocation_check_failed", error=str(exc))
            # The period is read each round, so SIGHUP changes apply from the next one.
            with trio.move_on_after(self._live.current.ssh.revocation_check_s):
                await self._stopping.wait()
