"""Arguments, printing and handler pieces several areas share."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudclaude.core.timefmt import parse_datetime, parse_when
from cloudclaude.ctl.registry import arg
from cloudclaude.errors import CloudClaudeError, system

PAGING = (arg("--limit", type=int, default=50), arg("--offset", type=int, default=0))
HOST = arg("host", help="host id or short id")


def short_time(value: str | None) -> str:
    """An ISO time from a reply as ``2026-11-28 02:47Z`` (UTC, to the minute); None is ``-``."""
    if not value:
        return "-"
    return parse_datetime(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ")


def print_total(data: dict[str, Any]) -> None:
    """The footer of a paged list: how many items of how many."""
    print(f"({len(data['items'])} of {data['total']})")


def print_queued(data: dict[str, Any]) -> None:
    """A queued task of a host or an exit, and how to follow it."""
    name = data.get("host") or data.get("exit")
    print(f"{name}: {data['action']} queued as task {data['task_id']}")
    print(f"  follow it with: cloudclaudectl tasks show {data['task_id']}")


def check_paging(limit: int, offset: int) -> None:
    """Refuse a page the daemon will not serve (handlers of ``PAGING`` commands)."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise CloudClaudeError(system.VALIDATION_FAILED, "limit must be 1..1000, offset >= 0")


def when(text: str | None) -> dt.datetime | None:
    """An ``expires_at`` given as text (None stays None)."""
    return None if text is None else parse_when(text, "expires_at")
