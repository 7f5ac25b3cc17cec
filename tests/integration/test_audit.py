"""Audit rows: one per change, in the change's transaction; none when the change rolls back."""

from __future__ import annotations

import datetime as dt

import pytest

from cloudclaude.app.wiring import Services
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import SYSTEM, Actor, AuditFilter, NewAuditEvent

ACTOR = Actor(name="user:tester")


async def _types(db: Database) -> list[str]:
    return [r["type"] for r in await db.fetch("SELECT type FROM audit_events ORDER BY id")]


async def test_each_user_change_writes_its_event(services: Services) -> None:
    accounts = services.accounts
    user, _ = await accounts.create(ACTOR, username="dora", password="dora-password")
    await accounts.update(ACTOR, user.id, max_hosts=4)
    await accounts.update(ACTOR, user.id, max_hosts=4)  # no change: no event
    await accounts.set_password(ACTOR, user.id)
    await services.user_deletion.delete(ACTOR, user.id)
    assert await _types(services.db) == [
        "admin.user.created",
        "admin.user.updated",
        "admin.user.password_rotated",
        "admin.user.deleted",
    ]
    events = await audit_repo.list_recent(services.db, AuditFilter(), limit=10)
    assert all(e.user_id == user.id and e.actor == "user:tester" for e in events)
    assert events[-1].metadata == {"username": "dora", "role": "user", "max_hosts": 1}


async def test_failed_change_writes_no_event(services: Services) -> None:
    await services.accounts.create(ACTOR, username="erin", password="erin-password")
    with pytest.raises(CloudClaudeError):
        await services.accounts.create(ACTOR, username="erin", password="erin-password")
    assert await _types(services.db) == ["admin.user.created"]


async def test_rolled_back_transaction_leaves_neither_change_nor_event(services: Services) -> None:
    db = services.db
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (username, password_hash, role) VALUES ('ghost', 'x', 'user')"
            )
            await audit_repo.insert(conn, NewAuditEvent(type="admin.user.created", actor=ACTOR))
            raise RuntimeError("something failed after both writes")
    assert await db.fetchval("SELECT count(*) FROM users WHERE username = 'ghost'") == 0
    assert await _types(db) == []


async def test_audit_log_is_append_only(services: Services) -> None:
    await audit_repo.insert(services.db, NewAuditEvent(type="auth.failed", actor=ACTOR))
    with pytest.raises(DatabaseError, match="append-only"):
        await services.db.execute("UPDATE audit_events SET actor = 'someone else'")
    with pytest.raises(DatabaseError, match="append-only"):
        await services.db.execute("DELETE FROM audit_events")


async def test_expiry_scanner_records_expired_users_once(services: Services) -> None:
    past = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    user, _ = await services.accounts.create(
        ACTOR, username="fred", password="fred-password", expires_at=past
    )
    first = await services.accounts.expire_due(SYSTEM)
    second = await services.accounts.expire_due(SYSTEM)
    assert [u.username for u in first] == ["fred"] and second == []
    assert (await services.accounts.get(user.id)).status == "expired"
    assert (await _types(services.db)).count("user.expired") == 1
