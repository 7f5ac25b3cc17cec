"""Live updates (server-sent events): what changed in hosts, tasks and the audit log.

Each stream polls the database every ``web.sse_poll_s`` for rows changed since it last looked,
so it works the same with any number of daemons and needs no in-process bus. A user's stream
only ever sees that user's hosts and tasks (the filter is in the SQL); the audit topic is for
admins. Rows are re-read with a small overlap (a transaction may commit a change stamped a
moment earlier) and sent only when their ``updated_at`` moved. Idle streams get a heartbeat
comment every ``web.sse_heartbeat_s``. The number of open streams is capped, in all and per
user. Before each poll a stream re-checks the session it was opened with (one cheap query,
``Sessions.alive``): once the session is signed out or ended (password change, disable,
expiry, demotion) the stream sends ``event: ended`` and closes, within one poll interval.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import WebSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.errors import CloudClaudeError
from cloudclaude.errors.auth import SESSION_ENDED
from cloudclaude.model.views import audit_view, host_view, task_view

TOPICS = ("hosts", "tasks", "audit")
USER_TOPICS = ("hosts", "tasks")
_OVERLAP = dt.timedelta(seconds=5)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class StreamLimits:
    """Open streams, counted in all and per user."""

    def __init__(self) -> None:
        self.per_user: Counter[uuid.UUID] = Counter()

    @contextmanager
    def opened(self, user_id: uuid.UUID, settings: WebSettings) -> Iterator[None]:
        if sum(self.per_user.values()) >= settings.sse_max_streams:
            raise CloudClaudeError("rate_limited", "too many live-update streams are open")
        if self.per_user[user_id] >= settings.sse_max_streams_per_user:
            raise CloudClaudeError(
                "rate_limited", "you have too many live-update streams open; close one"
            )
        self.per_user[user_id] += 1
        try:
            yield
        finally:
            self.per_user[user_id] -= 1
            if self.per_user[user_id] <= 0:
                del self.per_user[user_id]


def parse_topics(raw: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if not raw:
        return allowed
    topics = tuple(t for t in (part.strip() for part in raw.split(",")) if t)
    unknown = [t for t in topics if t not in allowed]
    if unknown or not topics:
        raise CloudClaudeError(
            "bad_query", f"topics must be a comma-separated subset of {', '.join(allowed)}"
        )
    return topics


class ChangeFeed:
    """Rows of ``topics`` changed since the stream opened (``owner``: one user's rows only)."""

    def __init__(
        self, services: Services, topics: tuple[str, ...], owner: uuid.UUID | None
    ) -> None:
        self.hosts = services.hosts
        self.tasks = services.tasks
        self.audit = services.audit
        self.topics = topics
        self.owner = owner
        self.since = utcnow() - _OVERLAP
        self.sent: dict[tuple[str, uuid.UUID], dt.datetime] = {}
        self.audit_after: int | None = None

    async def start(self) -> None:
        if "audit" in self.topics:
            self.audit_after = await self.audit.last_id()

    async def poll(self) -> list[bytes]:
        out: list[bytes] = []
        newest = self.since
        if "hosts" in self.topics:
            for host in await self.hosts.changed_since(self.since, self.owner):
                newest = max(newest, host.updated_at)
                if self._fresh("hosts", host.id, host.updated_at):
                    out.append(sse("hosts", host_view(host)))
        if "tasks" in self.topics:
            for task in await self.tasks.changed_since(self.since, self.owner):
                newest = max(newest, task.updated_at)
                if self._fresh("tasks", task.id, task.updated_at):
                    out.append(sse("tasks", task_view(task, with_events=False)))
        if self.audit_after is not None:
            events = await self.audit.after(self.audit_after)
            for event in events:
                self.audit_after = event.id
                out.append(sse("audit", audit_view(event)))
        self.since = max(self.since, newest - _OVERLAP)
        return out

    def _fresh(self, topic: str, row_id: uuid.UUID, updated_at: dt.datetime) -> bool:
        key = (topic, row_id)
        if self.sent.get(key) == updated_at:
            return False
        self.sent[key] = updated_at
        return True


async def stream(
    feed: ChangeFeed,
    settings: WebSettings,
    stopping: trio.Event | None = None,
    alive: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body: a hello, then changes as they happen, heartbeats while idle; it ends once
    ``alive`` (the stream's session still authenticates) says no."""
    await feed.start()
    yield sse("hello", {"topics": list(feed.topics)})
    idle = 0.0
    while stopping is None or not stopping.is_set():
        if alive is not None and not await alive():
            yield sse("ended", {"code": SESSION_ENDED.code, "slug": SESSION_ENDED.slug})
            return
        chunks = await feed.poll()
        for chunk in chunks:
            yield chunk
        idle = 0.0 if chunks else idle + settings.sse_poll_s
        if idle >= settings.sse_heartbeat_s:
            idle = 0.0
            yield b": heartbeat\n\n"
        await trio.sleep(settings.sse_poll_s)
