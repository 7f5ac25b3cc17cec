"""``GET /v1/admin/sse`` and ``GET /v1/user/sse``: live updates as server-sent events.

``?topics=hosts,tasks,audit`` picks topics (admins: all three; users: ``hosts``, ``tasks``, their
own only). Every event is ``event: <topic>`` with the row's JSON view as ``data``. A stream
ends (``event: ended``) within a poll interval of its session ending.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import attrs
from quart import Blueprint, Response, current_app, request

from cloudclaude.domain.sessions import SignedIn
from web.api.common import authenticate, current_session, services
from web.api.contract import Raw, documented
from web.live import TOPICS, USER_TOPICS, ChangeFeed, StreamLimits, parse_topics, stream

blueprint = Blueprint("api_live", __name__)
EVENTS = Raw("text/event-stream", "`event: <topic>` with the row's JSON view as `data`")
#: Too many streams open for the user or in all.
SSE_ERRORS = ("bad_query", "rate_limited")


@attrs.frozen(kw_only=True)
class AdminTopics:
    #: Comma-separated: any of hosts, tasks, audit (default all).
    topics: str | None = None


@attrs.frozen(kw_only=True)
class UserTopics:
    #: Comma-separated: any of hosts, tasks (default both).
    topics: str | None = None


def _limits() -> StreamLimits:
    limits: StreamLimits = current_app.extensions.setdefault("cloudclaude_sse", StreamLimits())
    return limits


async def open_stream(
    signed_in: SignedIn, topics: tuple[str, ...], owner: uuid.UUID | None
) -> Response:
    """The SSE response of ``signed_in``'s session; it closes when that session ends."""
    settings = services().live.current.web
    guard = contextlib.ExitStack()
    guard.enter_context(_limits().opened(signed_in.user.id, settings))  # 429 before it opens
    feed = ChangeFeed(services(), topics, owner)
    sessions = services().accounts.sessions

    async def alive() -> bool:
        return await sessions.alive(signed_in.session.id)

    async def body() -> AsyncIterator[bytes]:
        with guard:
            async for chunk in stream(feed, settings, alive=alive):
                yield chunk

    response = Response(body(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.timeout = None
    return response


@blueprint.get("/v1/admin/sse")
@documented(auth="admin", query=AdminTopics, answers={200: EVENTS}, errors=SSE_ERRORS)
async def admin_stream() -> Response:
    await authenticate("admin")
    topics = parse_topics(request.args.get("topics"), TOPICS)
    return await open_stream(current_session(), topics, None)


@blueprint.get("/v1/user/sse")
@documented(auth="user", query=UserTopics, answers={200: EVENTS}, errors=SSE_ERRORS)
async def user_stream() -> Response:
    user = await authenticate()
    topics = parse_topics(request.args.get("topics"), USER_TOPICS)
    return await open_stream(current_session(), topics, user.id)
