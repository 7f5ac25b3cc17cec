"""Claude Code's API keys and usage on a real Postgres (issue 18): which key a user's requests
go out with, the key sealed at rest and never in an answer or the audit log, usage sums and
budgets with the once-a-month 80% notice."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import attrs
import pytest

from cloudclaude.app.wiring import Services
from cloudclaude.auth.sealing import V2, unseal, version
from cloudclaude.core.serverkey import load_or_create
from cloudclaude.core.settings import CredentialsSettings
from cloudclaude.db.pool import Database
from cloudclaude.domain.credentials import PURPOSE
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor, AuditFilter
from cloudclaude.model.credentials import UsageFilter, UsageRow, month_bounds
from cloudclaude.model.users import User
from tests.integration.conftest import random_name

ACTOR = Actor(name="test")
TEAM_KEY = "sk-ant-api03-team-key-0123456789-AAAA"
ALICE_KEY = "sk-ant-api03-alice-assigned-key-BBBB"
OWN_KEY = "sk-ant-api03-alices-own-key-xyz-CCCC"


def user_keys(services: Services, on: bool, default_monthly_tokens: int = 0) -> None:
    live = services.live
    live.current = attrs.evolve(
        live.current,
        credentials=CredentialsSettings(
            user_keys=on, default_monthly_tokens=default_monthly_tokens
        ),
    )


async def new_user(services: Services, name: str | None = None) -> User:
    user, _ = await services.accounts.create(ACTOR, username=name or random_name())
    return user


def row(user: User, tokens: int, model: str = "claude-sonnet-4", **kw: object) -> UsageRow:
    fields: dict[str, object] = {
        "user_id": user.id,
        "host_id": None,
        "credential_id": None,
        "kind": "team",
        "model": model,
        "input_tokens": tokens // 2,
        "output_tokens": tokens - tokens // 2,
        "cache_creation_tokens": 0,
        "cache_read_tokens": 0,
        "status": 200,
        "latency_ms": 12,
        **kw,
    }
    return UsageRow(**fields)  # type: ignore[arg-type]


async def test_the_key_in_effect_goes_own_then_assigned_then_default(services: Services) -> None:
    creds = services.credentials
    alice, bob = await new_user(services, "alice"), await new_user(services, "bob")
    assert await creds.key_for(alice.id) is None

    team = await creds.create(ACTOR, "team", TEAM_KEY, default=True)
    got = await creds.key_for(alice.id)
    assert got is not None and (got.credential_id, got.kind, got.secret) == (
        team.id,
        "team",
        TEAM_KEY,
    )
    assert TEAM_KEY not in repr(got)

    assigned = await creds.create(ACTOR, "alices", ALICE_KEY, assign=["alice"])
    assert assigned.assigned == ("alice",)
    got = await creds.key_for(alice.id)
    assert got is not None and (got.name, got.secret) == ("alices", ALICE_KEY)
    other = await creds.key_for(bob.id)
    assert other is not None and other.secret == TEAM_KEY

    # Users' own keys only while credentials.user_keys is on; then they win.
    with pytest.raises(CloudClaudeError) as refused:
        await creds.create_own(ACTOR, alice, "mine", OWN_KEY)
    assert refused.value.error.slug == "user_keys_off"
    user_keys(services, True)
    own = await creds.create_own(ACTOR, alice, "mine", OWN_KEY)
    assert own.name == "alice/mine" and own.kind == "user"
    got = await creds.key_for(alice.id)
    assert got is not None and (got.kind, got.secret) == ("user", OWN_KEY)
    in_effect = await creds.in_effect(alice.id)
    assert in_effect is not None and in_effect.masked == "sk-ant-…CCCC"
    user_keys(services, False)
    got = await creds.key_for(alice.id)
    assert got is not None and got.secret == ALICE_KEY

    # A rotation counts from the next request; deleting falls back to the default.
    rotated = "sk-ant-api03-alice-rotated-key-DDDD"
    after = await creds.rotate(ACTOR, assigned.id, rotated)
    assert after.rotated_at is not None and after.masked.endswith("DDDD")
    got = await creds.key_for(alice.id)
    assert got is not None and got.secret == rotated
    await creds.delete(ACTOR, assigned.id)
    got = await creds.key_for(alice.id)
    assert got is not None and got.secret == TEAM_KEY
    await creds.assign(ACTOR, team.id, None, False)
    assert await creds.key_for(alice.id) is None


async def test_one_default_and_one_assigned_key_per_user(services: Services) -> None:
    creds = services.credentials
    await new_user(services, "carol")
    first = await creds.create(ACTOR, "first", TEAM_KEY, default=True, assign=["carol"])
    second = await creds.create(ACTOR, "second", ALICE_KEY)
    second = await creds.assign(ACTOR, second.id, ["carol"], True)
    assert second.is_default and second.assigned == ("carol",)
    first = await creds.get(first.id)
    assert not first.is_default and first.assigned == ()
    with pytest.raises(CloudClaudeError) as unknown:
        await creds.assign(ACTOR, first.id, ["nobody"], None)
    assert unknown.value.error.slug == "not_found"
    with pytest.raises(CloudClaudeError) as taken:
        await creds.create(ACTOR, "first", TEAM_KEY)
    assert taken.value.error.slug == "credential_name_taken"


@pytest.mark.parametrize(
    "key",
    ["short-key", "sk-ant-with a space-0123456789", "sk-ant-ünicode-0123456789abc", "x" * 513],
)
async def test_bad_keys_are_refused_without_quoting_them(services: Services, key: str) -> None:
    with pytest.raises(CloudClaudeError) as bad:
        await services.credentials.create(ACTOR, "bad", key)
    assert bad.value.error.slug == "api_key_invalid"
    assert key not in str(bad.value.body())


async def test_keys_are_sealed_at_rest_and_never_in_the_audit_log(
    services: Services, db: Database
) -> None:
    creds = services.credentials
    await new_user(services, "dave")
    made = await creds.create(ACTOR, "sealed", TEAM_KEY, assign=["dave"])
    await creds.rotate(ACTOR, made.id, ALICE_KEY)
    await creds.delete(ACTOR, (await creds.create(ACTOR, "gone", OWN_KEY)).id)

    sealed = bytes(await db.fetchval("SELECT key_enc FROM llm_credentials WHERE id = $1", made.id))
    assert version(sealed) == V2 and ALICE_KEY.encode() not in sealed
    server_key = load_or_create(services.live.current.state_path)
    assert unseal(server_key, PURPOSE, sealed, owner=made.id) == ALICE_KEY.encode()
    whole = await db.fetchval("SELECT json_agg(c)::text FROM llm_credentials c")
    assert ALICE_KEY not in whole and TEAM_KEY[-10:] not in whole

    events = await services.audit.page(AuditFilter(), limit=100)
    kinds = [e.type for e in events.items if e.type.startswith("credential.")]
    assert sorted(kinds) == sorted(
        ["credential.created"] * 2
        + ["credential.assigned", "credential.rotated", "credential.deleted"]
    )
    text = json.dumps([e.metadata for e in events.items], ensure_ascii=False)
    for key in (TEAM_KEY, ALICE_KEY, OWN_KEY):
        assert key not in text and key[:-4] not in text
    assert "sk-ant-…AAAA" in text  # the mask is what they carry


async def test_a_users_own_key_is_theirs_alone(services: Services) -> None:
    creds = services.credentials
    user_keys(services, True)
    erin, frank = await new_user(services, "erin"), await new_user(services, "frank")
    own = await creds.create_own(ACTOR, erin, "k", OWN_KEY)
    assert [c.name for c in await creds.list_keys(owner=erin.id)] == ["erin/k"]
    assert await creds.list_keys(owner=frank.id) == []
    for call in (
        creds.rotate(ACTOR, own.id, TEAM_KEY, owner=frank.id),
        creds.delete(ACTOR, own.id, owner=frank.id),
    ):
        with pytest.raises(CloudClaudeError) as refused:
            await call
        assert refused.value.error.slug == "credential_not_found"
    assert await creds.key_for(frank.id) is None
    with pytest.raises(CloudClaudeError) as not_admins:
        await creds.assign(ACTOR, own.id, ["frank"], None)
    assert not_admins.value.error.slug == "validation_failed"


async def test_owner_of_host(services: Services) -> None:
    user = await new_user(services)
    host, _, _ = await services.hosts.create(ACTOR, user_id=user.id, limits=services.hosts.defaults)
    assert await services.credentials.owner_of_host(host.id) == user.id
    assert await services.credentials.owner_of_host(uuid.uuid4()) is None


async def test_usage_is_summed_by_day_user_and_model(services: Services, db: Database) -> None:
    usage = services.llm_usage
    gina, hank = await new_user(services, "gina"), await new_user(services, "hank")
    host, _, _ = await services.hosts.create(ACTOR, user_id=gina.id, limits=services.hosts.defaults)
    await usage.record(row(gina, 100, host_id=host.id))
    await usage.record(row(gina, 40, "claude-haiku-4", host_id=host.id, status=529))
    await usage.record(row(hank, 10, cache_read_tokens=5))
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    await db.execute("UPDATE llm_usage SET at = $1 WHERE username = 'hank'", yesterday)

    by_user = await usage.report(UsageFilter(), "user")
    assert [(g.key, g.requests, g.total_tokens, g.errors) for g in by_user.groups] == [
        ("gina", 2, 140, 1),
        ("hank", 1, 15, 0),
    ]
    assert by_user.totals.total_tokens == 155 and by_user.totals.requests == 3
    by_model = await usage.report(UsageFilter(user_id=gina.id), "model")
    assert [(g.key, g.total_tokens) for g in by_model.groups] == [
        ("claude-sonnet-4", 100),
        ("claude-haiku-4", 40),
    ]
    by_day = await usage.report(UsageFilter(), "day")
    today = dt.datetime.now(dt.UTC).date()
    assert [(g.key, g.total_tokens) for g in by_day.groups] == [
        (str(yesterday.date()), 15),
        (str(today), 140),
    ]
    assert {(d.day, d.username, d.tokens) for d in by_day.daily} == {
        (yesterday.date(), "hank", 15),
        (today, "gina", 140),
    }
    on_host = await usage.report(UsageFilter(host_id=host.id), "user")
    assert [g.key for g in on_host.groups] == ["gina"]
    since_today = dt.datetime.combine(today, dt.time(), dt.UTC)
    recent = await usage.report(UsageFilter(since=since_today), "user")
    assert [g.key for g in recent.groups] == ["gina"]
    older = await usage.report(UsageFilter(until=since_today), "user")
    assert [g.key for g in older.groups] == ["hank"]

    # Rows keep their names after the host is gone.
    short = await db.fetchval(
        "SELECT DISTINCT host_short_id FROM llm_usage WHERE host_id = $1", host.id
    )
    assert short == host.short_id
    columns = await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'llm_usage'"
    )
    assert not {c["column_name"] for c in columns} & {"prompt", "body", "messages", "content"}


async def test_budget_state_and_the_80_percent_notice_once_a_month(
    services: Services, db: Database
) -> None:
    usage = services.llm_usage
    ivy = await new_user(services, "ivy")
    state = await usage.budget(ivy.id)
    assert state.limit_tokens is None and not state.exhausted and not state.warning
    assert state.resets_at == month_bounds(dt.datetime.now(dt.UTC))[1]

    user_keys(services, False, default_monthly_tokens=5000)
    assert (await usage.budget(ivy.id)).limit_tokens == 5000
    await usage.set_budget(ACTOR, ivy.id, 1000)

    async def warnings() -> int:
        return await services.audit.count(AuditFilter(type="llm.budget.warning", user_id=ivy.id))

    await usage.record(row(ivy, 700))
    assert await warnings() == 0
    await usage.record(row(ivy, 100, cache_creation_tokens=20))  # 820: past 80%
    assert await warnings() == 1
    state = await usage.budget(ivy.id)
    assert (state.used_tokens, state.warning, state.exhausted) == (820, True, False)
    await usage.record(row(ivy, 100))
    await usage.record(row(ivy, 100))
    assert await warnings() == 1  # once this month
    state = await usage.budget(ivy.id)
    assert state.used_tokens == 1020 and state.exhausted

    # A new month: the notice goes again (last month's rows no longer count).
    last_month = month_bounds(dt.datetime.now(dt.UTC))[0] - dt.timedelta(days=3)
    await db.execute("UPDATE llm_usage SET at = $1 WHERE user_id = $2", last_month, ivy.id)
    await db.execute(
        "UPDATE users SET budget_notice_month = $1 WHERE id = $2", last_month.date(), ivy.id
    )
    assert (await usage.budget(ivy.id)).used_tokens == 0
    await usage.record(row(ivy, 900))
    assert await warnings() == 2

    # None: the team default applies again; 0 there means no budget.
    await usage.set_budget(ACTOR, ivy.id, None)
    assert (await usage.budget(ivy.id)).limit_tokens == 5000
    user_keys(services, False)
    assert (await usage.budget(ivy.id)).limit_tokens is None


async def test_gateway_switch(services: Services) -> None:
    usage = services.llm_usage
    jo = await new_user(services)
    assert await usage.gateway_enabled(jo.id) is True
    await usage.set_gateway(ACTOR, jo.id, False)
    assert await usage.gateway_enabled(jo.id) is False
    assert await usage.gateway_enabled(uuid.uuid4()) is False
    events = await services.audit.count(AuditFilter(type="user.llm_gateway.changed", user_id=jo.id))
    assert events == 1


async def test_resealing_covers_api_keys(services: Services, db: Database) -> None:
    """A key stored in the old format (version 1, bound to the purpose only) is rewritten as
    version 2 by the start-up re-sealing, and still resolves."""
    from cloudclaude.domain.resealing import reseal_all
    from tests.integration.test_sealing import seal_v1

    user = await new_user(services)
    made = await services.credentials.create(ACTOR, "old", TEAM_KEY, assign=[user.username])
    server_key = load_or_create(services.live.current.state_path)
    old = seal_v1(server_key, PURPOSE, TEAM_KEY.encode())
    await db.execute("UPDATE llm_credentials SET key_enc = $2 WHERE id = $1", made.id, old)
    assert await reseal_all(db, server_key) == 1
    sealed = bytes(await db.fetchval("SELECT key_enc FROM llm_credentials WHERE id = $1", made.id))
    assert version(sealed) == V2
    got = await services.credentials.key_for(user.id)
    assert got is not None and got.secret == TEAM_KEY

    # A value that does not open (another server key) is a coded error, never a wrong key.
    await db.execute(
        "UPDATE llm_credentials SET key_enc = $2 WHERE id = $1",
        made.id,
        seal_v1(b"\x01" * 32, PURPOSE, b"other"),
    )
    with pytest.raises(CloudClaudeError) as unreadable:
        await services.credentials.key_for(user.id)
    assert unreadable.value.error.slug == "sealed_secret_unreadable"
