"""Error answers in the OpenAPI document, straight from the registry (``cloudclaude.errors``).

Every failure is ``{"error": {code, slug, message, cause, fix, …}}`` with the row's HTTP status
(``web.api.errors``). Each status gets one schema whose ``code`` and ``slug`` are the registry's
rows of that status; each operation lists the statuses it may answer: those of every route of
its kind (signed in, with an id in the path, with a body …) and those its declaration names.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from cloudclaude.errors import REGISTRY, ErrorCode, by_slug
from web.api.schemas import Schema

#: What any route may answer: an unexpected failure, a database away.
ALWAYS = ("internal_error", "database_unavailable")
#: A route that checks a bearer token.
SIGNED_IN = (
    "auth_required",
    "token_invalid",
    "session_ended",
    "account_disabled",
    "account_expired",
    "forbidden",
    "token_scope_denied",
)
#: A route with an id in its path; the query and the body may be refused as a whole.
WITH_PATH = ("not_found",)
WITH_QUERY = ("bad_query",)
WITH_BODY = ("bad_request", "body_too_large", "validation_failed")


def rows_of(slugs: Iterable[str]) -> list[ErrorCode]:
    seen: dict[str, ErrorCode] = {}
    for slug in slugs:
        row = by_slug(slug)
        seen.setdefault(row.code, row)
    return sorted(seen.values(), key=lambda row: (row.http_status, row.code))


def schema_name(status: int) -> str:
    return f"Error{status}"


def error_schemas() -> dict[str, Schema]:
    """``Error<status>`` for every status of the registry: the body with that status's codes."""
    by_status: dict[int, list[ErrorCode]] = {}
    for row in REGISTRY:
        by_status.setdefault(row.http_status, []).append(row)
    schemas: dict[str, Schema] = {}
    for status, rows in sorted(by_status.items()):
        inner: Schema = {
            "type": "object",
            "properties": {
                "code": {"enum": [row.code for row in rows], "description": "DOMAIN_NNN"},
                "slug": {"enum": [row.slug for row in rows]},
                "message": {"type": "string"},
                "cause": {"type": "string"},
                "fix": {"type": "string"},
                "retry_after": {"type": "integer", "description": "seconds (also Retry-After)"},
            },
            "required": ["code", "slug", "message", "cause", "fix"],
            # Some errors name what they are about (the active task_id of host_busy, …).
            "additionalProperties": True,
        }
        schemas[schema_name(status)] = {
            "type": "object",
            "properties": {"error": inner},
            "required": ["error"],
            "additionalProperties": False,
        }
    return schemas


def error_responses(slugs: Iterable[str], *, sh: bool) -> dict[str, Any]:
    """The operation's error answers, one per status, each naming its codes."""
    by_status: dict[int, list[ErrorCode]] = {}
    for row in rows_of(slugs):
        by_status.setdefault(row.http_status, []).append(row)
    out: dict[str, Any] = {}
    for status, rows in by_status.items():
        content: dict[str, Any] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name(status)}"}}
        }
        if sh:
            content["text/plain"] = {"schema": {"type": "string"}}
        names = "; ".join(f"`{row.code}` {row.slug}: {row.message}" for row in rows)
        out[str(status)] = {
            "description": f"{HTTPStatus(status).phrase}. {names}",
            "content": content,
            "x-error-codes": [row.code for row in rows],
        }
    return out


def every_slug() -> tuple[str, ...]:
    """A route nothing is declared for may answer any row."""
    return tuple(row.slug for row in REGISTRY)
