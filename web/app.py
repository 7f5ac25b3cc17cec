"""``create_app``: the Quart app with the JSON API, error handlers and request metrics."""

from __future__ import annotations

import time

import structlog
from quart import Response, g, request
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import LiveSettings
from web.api import (
    admin_bindings,
    admin_credentials,
    admin_exits,
    admin_hosts,
    admin_tasks,
    admin_users,
    auth,
    cli,
    connect,
    errors,
    health,
    openapi,
    tls,
    usage,
    user_credentials,
    user_hosts,
    user_self,
)
from web.api import live as live_api
from web.forwarded import ForwardedMiddleware
from web.pages import admin_credentials as admin_credentials_pages
from web.pages import admin_exits as admin_exits_pages
from web.pages import admin_home, api_docs, llm_usage, me, me_claude, terminal
from web.pages import admin_hosts as admin_hosts_pages
from web.pages import admin_users as admin_users_pages
from web.pages import auth as auth_pages
from web.pages import live as live_pages
from web.pages.filters import show_controls, urlencode_with

log = structlog.get_logger(component="web")
#: Scripts only from this server (no inline handlers, no eval); never framed. htmx and the
#: pages set inline style attributes, so styles may be inline; nothing else may.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


def create_app(live: LiveSettings, services: Services) -> QuartTrio:
    app = QuartTrio(__name__)
    app.config["MAX_CONTENT_LENGTH"] = live.current.web.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["cloudclaude"] = services
    for module in (
        health,
        tls,
        auth,
        admin_users,
        admin_hosts,
        admin_exits,
        admin_bindings,
        admin_tasks,
        admin_credentials,
        user_self,
        user_hosts,
        user_credentials,
        usage,
        live_api,
        connect,
        cli,
        openapi,
        auth_pages,
        admin_home,
        admin_users_pages,
        admin_hosts_pages,
        admin_exits_pages,
        admin_credentials_pages,
        llm_usage,
        me,
        me_claude,
        live_pages,
        terminal,
        api_docs,
    ):
        app.register_blueprint(module.blueprint)
    app.add_template_filter(urlencode_with)
    app.jinja_env.finalize = show_controls  # before any template is compiled
    errors.register(app)
    app.asgi_app = ForwardedMiddleware(app.asgi_app, live.current.web.trusted_proxies)  # type: ignore[method-assign,assignment]

    @app.before_request
    async def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    async def _observe(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        services.metrics.http_requests.labels(request.method, route, response.status_code).inc()
        services.metrics.http_duration.labels(route).observe(elapsed)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if route not in ("/metrics", "/healthz"):
            log.info(
                "http_request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                ms=round(elapsed * 1000, 2),
                remote=request.remote_addr,
                user_id=str(g.user.id) if g.get("user") is not None else None,
            )
        return response

    return app
