"""The user's boxes: list, show, make, start, stop, rebuild, delete, with progress."""

from __future__ import annotations

import sys
import time
from typing import Any

from cloudclaude.client.api import Api, ApiError

POLL_S = 1.0
WAIT_S = 900.0
DONE = ("succeeded", "failed", "canceled")


def all_hosts(api: Api) -> list[dict[str, Any]]:
    _, page = api.call("GET", "/v1/user/hosts?limit=200")
    return list(page["items"])


def find(api: Api, ref: str | None) -> dict[str, Any]:
    """The host a user means: a short id (or its start), or their only/most recent host."""
    hosts = all_hosts(api)
    if not hosts:
        raise ApiError("you have no host", fix="make one: cloud-claude create")
    if not ref:
        return max(hosts, key=lambda h: str(h.get("last_used_at") or h.get("created_at") or ""))
    found = [h for h in hosts if str(h["short_id"]).startswith(ref) or str(h["id"]) == ref]
    if len(found) != 1:
        names = ", ".join(str(h["short_id"]) for h in hosts)
        raise ApiError(f"no single host matches {ref!r}", fix=f"your hosts: {names}")
    return found[0]


def table(hosts: list[dict[str, Any]]) -> str:
    rows = [("HOST", "STATUS", "CPUS", "MEMORY", "DISK", "EXIT")]
    for h in hosts:
        rows.append(
            (
                str(h["short_id"]),
                str(h["status"]) + (f" ({h['error_code']})" if h.get("error_code") else ""),
                f"{float(h['cpus']):g}",
                f"{h['memory_mb']} MB",
                f"{h['disk_gb']} GB",
                str(h.get("egress_label") or "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def act(api: Api, host: dict[str, Any], action: str, quiet: bool = False) -> dict[str, Any]:
    """``action`` (start, stop, rebuild) on ``host``, followed to its end with progress."""
    _, queued = api.call("POST", f"/v1/user/hosts/{host['id']}/{action}")
    return wait(api, str(queued["task_id"]), quiet)


def wait(api: Api, task_id: str, quiet: bool = False) -> dict[str, Any]:
    """Follow a task to its end, printing each new stage; a failed task raises its code."""
    seen = 0
    deadline = time.monotonic() + WAIT_S
    while True:
        _, task = api.call("GET", f"/v1/user/tasks/{task_id}")
        events = task.get("events") or []
        for event in events[seen:]:
            if not quiet:
                line = f"  {task.get('progress_percent') or 0:3}% {event.get('code', '')}"
                print(f"{line} {event.get('message', '')}".rstrip(), file=sys.stderr)
        seen = len(events)
        if task["status"] in DONE:
            break
        if time.monotonic() > deadline:
            raise ApiError(f"task {task_id} still runs after {WAIT_S:.0f} s")
        time.sleep(POLL_S)
    if task["status"] != "succeeded":
        code = str(task.get("error_code") or "")
        message = str(task.get("error_message") or task["status"])
        raise ApiError(f"{task['kind']} {task['status']}: {message}", code=code)
    return dict(task)
