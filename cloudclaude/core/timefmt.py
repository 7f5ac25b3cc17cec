"""Dates on the wire: ISO 8601 in, ISO 8601 out, always timezone-aware (UTC if none given)."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any

from cloudclaude.errors import CloudClaudeError


def parse_datetime(value: Any, _type: Any = None) -> dt.datetime:
    """An ISO 8601 date (midnight UTC) or date-time; a value without a zone is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date or date-time string")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date or date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_when(value: str, name: str, *, slug: str = "validation_failed") -> dt.datetime:
    """``parse_datetime`` for a named input: a bad value is the coded error ``slug``."""
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise CloudClaudeError(slug, f"{name}: {exc}") from exc


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: Names in the zoneinfo directory that are no zone of their own: ``localtime`` is this
#: machine's link to /etc/localtime (in the box it would point at itself).
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@functools.cache
def known_timezones() -> frozenset[str]:
    """The tz database's zone names (read once; the box image installs the same tzdata)."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES) | {"UTC", "Etc/UTC"}
