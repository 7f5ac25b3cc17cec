"""Rendering a page: the template plus what every page shows (the user, the CSRF token)."""

from __future__ import annotations

from typing import Any

from quart import g, render_template, request


async def render(template: str, **context: Any) -> str:
    context.setdefault("user", g.get("user"))
    context.setdefault("csrf", g.get("csrf", ""))
    return await render_template(template, **context)


def is_htmx() -> bool:
    """The request came from htmx (answer with a fragment, not the whole page)."""
    return request.headers.get("HX-Request") == "true"
