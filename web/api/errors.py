"""Every API failure answers ``{"error": {code, slug, message, cause, fix}}``, never a traceback.

The fix is told to its reader: a signed-in admin gets the row's ``admin_fix`` where it has one
(an admin is not sent to "ask an admin").
"""

from __future__ import annotations

import attrs
import structlog
from quart import (
    Quart,
    Response,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as AnyResponse

from cloudclaude.agent_client.client import AgentError
from cloudclaude.domain.errors import DatabaseUnavailable
from cloudclaude.errors import CloudClaudeError, by_code

log = structlog.get_logger(component="web")

_HTTP_SLUGS = {
    400: "bad_request",
    401: "auth_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def _for_reader(error: CloudClaudeError) -> CloudClaudeError:
    """``error`` marked as read by an admin when the request's signed-in user is one."""
    if has_request_context():
        user = g.get("user")
        if user is not None and getattr(user, "role", None) == "admin":
            error.admin = True
    return error


def error_response(error: CloudClaudeError) -> Response:
    error = _for_reader(error)
    if has_request_context() and request.args.get("format") == "sh":
        response = Response(sh_error(error), mimetype="text/plain")
    else:
        response = jsonify(error.body())
    response.status_code = error.http_status
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def sh_error(error: CloudClaudeError) -> str:
    """The error as the connect script reads it: ``key value`` lines with its exit code."""
    fields = {
        "error_code": error.error.code,
        "slug": error.error.slug,
        "exit_code": error.error.exit_code,
        "message": error.detail or error.error.message,
        "fix": error.fix,
    }
    return "".join(
        f"{k} {str(v).replace(chr(10), ' ').replace(chr(13), ' ')}\n" for k, v in fields.items()
    )


#: Paths that are not pages: they answer JSON (or ``key value`` lines) even to a browser.
_NOT_PAGES = ("/v1/", "/healthz", "/metrics", "/entry/", "/static/", "/tls/")


def is_page_request() -> bool:
    return has_request_context() and not request.path.startswith(_NOT_PAGES)


async def respond(error: CloudClaudeError) -> AnyResponse:
    """JSON for the API, a friendly page (or the sign-in page) for the pages."""
    if not is_page_request():
        return error_response(error)
    if error.error.slug == "auth_required" and request.method == "GET":
        return redirect(url_for("pages_auth.login_form", next=request.full_path.rstrip("?")))
    error = _for_reader(error)
    shown = attrs.evolve(error.error, fix=error.fix)  # the page prints ``error.fix``
    html = await render_template("error.html", error=shown, detail=error.detail)
    response = Response(html, status=error.http_status, mimetype="text/html")
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:  # rate_limited, auth_busy: pages say when to retry too
        response.headers["Retry-After"] = str(retry_after)
    return response


def register(app: Quart) -> None:
    @app.errorhandler(CloudClaudeError)
    async def _domain(error: CloudClaudeError) -> AnyResponse:
        return await respond(error)

    @app.errorhandler(DatabaseUnavailable)
    async def _database(error: DatabaseUnavailable) -> AnyResponse:
        log.warning("database_unavailable", error=str(error))
        return await respond(CloudClaudeError("database_unavailable"))

    @app.errorhandler(AgentError)
    async def _agent(error: AgentError) -> AnyResponse:
        log.warning("agent_error", code=error.code, error=error.message)
        entry = by_code(error.code)
        slug = entry.slug if entry is not None else "agent_unavailable"
        return await respond(CloudClaudeError(slug, error.message))

    @app.errorhandler(HTTPException)
    async def _http(error: HTTPException) -> AnyResponse:
        status = error.code or 500
        slug = _HTTP_SLUGS.get(status)
        if slug is None and not is_page_request():
            response = jsonify(
                CloudClaudeError("bad_request", error.description or error.name).body()
            )
            response.status_code = status
            return response
        return await respond(CloudClaudeError(slug or "bad_request"))

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> AnyResponse:
        log.exception("unhandled_error", error_type=type(error).__name__)
        return await respond(CloudClaudeError("internal_error"))
