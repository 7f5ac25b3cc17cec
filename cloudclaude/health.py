"""Health checks behind ``/healthz`` and ``cloudclaudectl status``."""

from __future__ import annotations

from typing import Any

import trio

from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database
from cloudclaude.metrics import Metrics

CHECK_TIMEOUT_S = 2.0


async def check_database(db: Database, metrics: Metrics | None = None) -> dict[str, Any]:
    start = trio.current_time()
    ok, detail = False, "timed out"
    with trio.move_on_after(CHECK_TIMEOUT_S):
        try:
            await db.fetchval("SELECT 1")
            ok, detail = True, "ok"
        except DatabaseError as exc:
            detail = str(exc)[:200]
    if metrics is not None:
        metrics.database_up.set(1 if ok else 0)
    return {
        "status": "ok" if ok else "error",
        "detail": detail,
        "latency_ms": round((trio.current_time() - start) * 1000, 2),
    }


def check_agent() -> dict[str, Any]:
    """The privileged agent arrives with a later feature; say so rather than pretend."""
    return {"status": "not_configured", "detail": "no privileged agent is configured yet"}


async def overall(db: Database, metrics: Metrics | None = None) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy needs the database; the agent is reported as it is."""
    database = await check_database(db, metrics)
    report = {
        "status": "ok" if database["status"] == "ok" else "error",
        "checks": {"database": database, "agent": check_agent()},
    }
    return database["status"] == "ok", report
