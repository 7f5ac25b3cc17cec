"""Live updates of the pages: server-sent events on cookie-authenticated page routes.

The same change feed as the API's streams; htmx's SSE extension turns each event into a
refresh of the fragment that shows it, so a status turns ``running`` without a reload. Like the
API's, a stream closes once its cookie's session ends.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from web.api.common import current_session
from web.api.live import open_stream
from web.live import TOPICS, USER_TOPICS, parse_topics
from web.pages.session import require

blueprint = Blueprint("pages_live", __name__)


@blueprint.get("/admin/live")
async def admin_live() -> Response:
    await require("admin")
    topics = parse_topics(request.args.get("topics"), TOPICS)
    return await open_stream(current_session(), topics, None)


@blueprint.get("/me/live")
async def user_live() -> Response:
    user = await require(None)
    topics = parse_topics(request.args.get("topics"), USER_TOPICS)
    return await open_stream(current_session(), topics, user.id)
