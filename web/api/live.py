"""``GET /v1/admin/sse`` and ``GET /v1/user/sse``: live updates as server-sent events.

``?topics=hosts,tasks,audit`` picks topics (admins: all three; users: ``hosts``, ``tasks``, their
own only). Every event is ``event: <topic>`` with the row's JSON view as ``data``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from quart import Blueprint, Response, current_app, request

from web.api.common import authenticate, services
from web.live import TOPICS, USER_TOPICS, ChangeFeed, StreamLimits, parse_topics, stream

blueprint = Blueprint("api_live", __name__)


def _limits() -> StreamLimits:
    limits: StreamLimits = current_app.extensions.setdefault("cloudclaude_sse", StreamLimits())
    return limits


async def open_stream(
    user_id: uuid.UUID, topics: tuple[str, ...], owner: uuid.UUID | None
) -> Response:
    settings = services().live.current.web
    guard = contextlib.ExitStack()
    guard.enter_context(_limits().opened(user_id, settings))  # 429 before the stream opens
    feed = ChangeFeed(services(), topics, owner)

    async def body() -> AsyncIterator[bytes]:
        with guard:
            async for chunk in stream(feed, settings):
                yield chunk

    response = Response(body(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.timeout = None
    return response


@blueprint.get("/v1/admin/sse")
async def admin_stream() -> Response:
    user = await authenticate("admin")
    return await open_stream(user.id, parse_topics(request.args.get("topics"), TOPICS), None)


@blueprint.get("/v1/user/sse")
async def user_stream() -> Response:
    user = await authenticate()
    return await open_stream(
        user.id, parse_topics(request.args.get("topics"), USER_TOPICS), user.id
    )
