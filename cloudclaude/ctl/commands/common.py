"""Arguments and printing pieces several areas share."""

from __future__ import annotations

from typing import Any

from cloudclaude.ctl.registry import arg

PAGING = (arg("--limit", type=int, default=50), arg("--offset", type=int, default=0))
HOST = arg("host", help="host id or short id")


def print_total(data: dict[str, Any]) -> None:
    """The footer of a paged list: how many items of how many."""
    print(f"({len(data['items'])} of {data['total']})")


def print_queued(data: dict[str, Any]) -> None:
    """A queued task of a host or an exit, and how to follow it."""
    name = data.get("host") or data.get("exit")
    print(f"{name}: {data['action']} queued as task {data['task_id']}")
    print(f"  follow it with: cloudclaudectl tasks show {data['task_id']}")
