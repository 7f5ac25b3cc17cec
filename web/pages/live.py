"""Live updates of the pages: server-sent events on cookie-authenticated page routes.

The same change feed as the API's streams; htmx's SSE extension turns each event into a
refresh of the fragment that shows it, so a status turns ``running`` without a reload.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from web.api.live import open_stream
from web.live import TOPICS, USER_TOPICS, parse_topics
from web.pages.session import require

blueprint = Blueprint("pages_live", __name__)


@blueprint.get("/admin/live")
async def admin_live() -> Response:
    user = await require("admin")
    return await open_stream(user.id, parse_topics(request.args.get("topics"), TOPICS), None)


@blueprint.get("/me/live")
async def user_live() -> Response:
    user = await require(None)
    topics = parse_topics(request.args.get("topics"), USER_TOPICS)
    return await open_stream(user.id, topics, user.id)
