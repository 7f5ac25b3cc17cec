"""Health checks behind ``/healthz`` and ``cloudclaudectl status``."""

from __future__ import annotations

from typing import Any

import trio

from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database

CHECK_TIMEOUT_S = 2.0


async def check_database(db: Database, metrics: Metrics | None = None) -> dict[str, Any]:
    start = trio.current_time()
    ok, detail = False, "timed out"
    with trio.move_on_after(CHECK_TIMEOUT_S):
        try:
            await db.ping()
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


async def check_agent(agent: Agent) -> dict[str, Any]:
    """Ping the agent; its version and round-trip time, or why it cannot be reached."""
    start = trio.current_time()
    report: dict[str, Any] = {"mode": agent.mode}
    with trio.move_on_after(CHECK_TIMEOUT_S):
        try:
            pong = await agent.ping()
        except AgentError as exc:
            status = "not_configured" if agent.mode == "none" else "error"
            return {**report, "status": status, "detail": exc.message}
        return {
            **report,
            "status": "ok",
            "version": pong.agent_version,
            "latency_ms": round((trio.current_time() - start) * 1000, 2),
        }
    return {**report, "status": "error", "detail": "timed out"}


async def overall(
    db: Database, agent: Agent, metrics: Metrics | None = None
) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy needs the database; a broken agent makes it "degraded"."""
    database = await check_database(db, metrics)
    agent_report = await check_agent(agent)
    status = "ok" if agent_report["status"] in ("ok", "not_configured") else "degraded"
    if database["status"] != "ok":
        status = "error"
    report = {"status": status, "checks": {"database": database, "agent": agent_report}}
    return database["status"] == "ok", report
