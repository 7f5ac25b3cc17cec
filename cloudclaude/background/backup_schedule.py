"""The backup schedule: a backup at each ``backup.schedule`` time (daily, UTC).

The clock is checked every ``TICK_S``; a backup is due when a scheduled time passed since the
last check, so a reload (SIGHUP) of the schedule applies at the next tick and a time is never
run twice. A time missed while the daemon was down is not made up: the next one runs. At
start-up, backups a stopped daemon left ``running`` are marked failed. A failed backup is
recorded and audited by the domain; the schedule goes on.
"""

from __future__ import annotations

import datetime as dt

import structlog
import trio

from cloudclaude.core.settings import LiveSettings, daily_times
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.errors import DatabaseError
from cloudclaude.domain.backups import Backups
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import SYSTEM

log = structlog.get_logger(component="backup_schedule")
TICK_S = 20.0


def due_between(last: dt.datetime, now: dt.datetime, times: list[tuple[int, int]]) -> bool:
    """True when one of the daily ``times`` (UTC) falls in ``(last, now]``."""
    day = last.date()
    while day <= now.date():
        for hour, minute in times:
            at = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
            if last < at <= now:
                return True
        day += dt.timedelta(days=1)
    return False


class BackupSchedule:
    name = "backups"

    def __init__(self, backups: Backups, live: LiveSettings, stopping: trio.Event) -> None:
        self._backups = backups
        self._live = live
        self._stopping = stopping

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            abandoned = await self._backups.abandon_running()
            if abandoned:
                log.warning("backups_abandoned", count=abandoned)
        except DatabaseError as exc:
            log.warning("backup_schedule_failed", error=str(exc))
        last = utcnow()
        while not self._stopping.is_set():
            with trio.move_on_after(TICK_S):
                await self._stopping.wait()
            if self._stopping.is_set():
                return
            now = utcnow()
            times = daily_times(self._live.current.backup.schedule)
            if due_between(last, now, times):
                await self._run_one()
            last = now

    async def _run_one(self) -> None:
        try:
            backup = await self._backups.create(SYSTEM, trigger="schedule")
            log.info("backup_made", backup_id=str(backup.id), bytes=backup.size_bytes)
        except CloudClaudeError as exc:  # recorded and audited as failed by the domain
            log.warning("backup_failed", code=exc.error.code, detail=exc.detail)
        except DatabaseError as exc:
            log.warning("backup_schedule_failed", error=str(exc))
