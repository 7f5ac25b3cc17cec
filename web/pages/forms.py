"""Form handling the pages share: reading fields, and putting an error next to its field."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Collection
from typing import TypeVar

from quart import request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.core.timefmt import parse_when
from cloudclaude.errors import CloudClaudeError

T = TypeVar("T")

#: Words in an error's message that name the form field it belongs to.
FIELDS = (
    "username",
    "password",
    "max_hosts",
    "expires_at",
    "public_key",
    "disk_gb",
    "memory_mb",
    "cpus",
    "timezone",
    "user_id",
    "egress_ip_id",
    "domains",
)


async def form_dict() -> dict[str, str]:
    form = await request.form
    return {key: str(value).strip() for key, value in form.items()}


def field_of(error: CloudClaudeError) -> str:
    """The field an error is about (``""``: the form as a whole): the one its kind is about,
    or the one it names (its ``field``, or a ``name: problem`` detail), else the first known
    field its text mentions."""
    if error.error.slug in ("username_taken",):
        return "username"
    if error.error.slug in ("password_invalid", "current_password_wrong"):
        return "password"
    if error.error.slug == "ssh_key_invalid":
        return "public_key"
    named = error.extra.get("field")
    if isinstance(named, str) and named:
        return named
    prefix = (error.detail or "").partition(":")[0]
    if prefix.isidentifier():
        return prefix
    text = f"{error.error.slug} {error.detail or ''}"
    return next((name for name in FIELDS if name in text), "")


def errors_for(error: CloudClaudeError, fields: Collection[str] = FIELDS) -> dict[str, str]:
    """The error shown next to its field, when the form has that field (``fields``), else at
    the top of the form (key ``""``), so no error goes unseen. A server-side failure goes to
    the error page."""
    if error.http_status >= 500:
        raise error
    field = field_of(error)
    if field not in fields:  # else the first of the form's fields its text mentions
        text = f"{error.error.slug} {error.detail or ''}"
        field = next((name for name in fields if name and name in text), "")
    return {field: error.detail or error.error.message}


class FormCheck:
    """Checks a form's fields one by one and keeps every problem, so a form that fails shows
    all of its errors at once (not the first one, then the next after another try)."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def read(self, name: str, parse: Callable[[], T]) -> T | None:
        """``parse()``, or None with its error kept for field ``name``."""
        try:
            return parse()
        except CloudClaudeError as exc:
            if exc.http_status >= 500:
                raise
            self.errors.setdefault(name, exc.detail or exc.error.message)
            return None


def int_field(data: dict[str, str], name: str, default: int | None = None) -> int | None:
    value = data.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise CloudClaudeError("validation_failed", f"{name}: must be a whole number") from exc


def float_field(data: dict[str, str], name: str, default: float) -> float:
    """A decimal field; NaN and infinities pass range checks unnoticed, so they are refused."""
    value = data.get(name, "")
    if value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise CloudClaudeError("validation_failed", f"{name}: must be a number") from exc
    if not math.isfinite(number):
        raise CloudClaudeError("validation_failed", f"{name}: must be a finite number")
    return number


def date_field(data: dict[str, str], name: str) -> dt.datetime | None:
    value = data.get(name, "")
    if not value:
        return None
    return parse_when(value, name)


def uuid_field(data: dict[str, str], name: str) -> uuid.UUID | None:
    value = data.get(name, "")
    if not value:
        return None
    return parse_uuid(value, name, slug="validation_failed")
