"""The Credentials and Usage pages and the Claude Code panel of ``/me`` through the Quart test
client against real Postgres (issue 18): masks only, names not ids, a confirm step before a
delete, the 80% notice, and the forms working without JavaScript."""

from __future__ import annotations

import re
from typing import Any

import attrs
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import CredentialsSettings
from cloudclaude.model.credentials import UsageRow
from tests.integration.test_pages import ACTOR, PASSWORD, sign_in

KEY = "sk-ant-api03-page-team-key-0000-PAGE"
NEW_KEY = "sk-ant-api03-page-rotated-key-00-ROTA"
OWN = "sk-ant-api03-pia-own-key-00000000-MINE"


def here(response: Any) -> str:
    """Where a redirect goes, without its fragment (a browser keeps that to itself)."""
    return str(response.headers["Location"]).partition("#")[0]


async def setup(services: Services) -> None:
    await services.accounts.create(ACTOR, username="padmin", role="admin", password=PASSWORD)
    for name in ("pia", "quinn"):
        await services.accounts.create(ACTOR, username=name, password=PASSWORD)


def row(user_id: object, tokens: int) -> UsageRow:
    return UsageRow(
        user_id=user_id,  # type: ignore[arg-type]
        host_id=None,
        credential_id=None,
        kind="team",
        model="claude-sonnet-4",
        input_tokens=tokens,
        output_tokens=0,
        cache_creation_tokens=0,
        cache_read_tokens=0,
        status=200,
        latency_ms=3,
    )


async def test_the_credentials_page_stores_rotates_assigns_and_deletes(
    app: QuartTrio, services: Services
) -> None:
    await setup(services)
    client, csrf = await sign_in(app, "padmin")
    page = await (await client.get("/admin/credentials")).get_data(as_text=True)
    assert "No keys yet" in page and 'href="/admin/credentials"' in page

    form = {"csrf_token": csrf, "name": "team", "key": KEY, "users": "pia", "default": "on"}
    stored = await client.post("/admin/credentials", form=form)
    assert stored.status_code == 302
    page = await (await client.get(stored.headers["Location"])).get_data(as_text=True)
    assert "Key stored." in page and "sk-ant-…PAGE" in page and KEY[:-4] not in page
    assert "team default" in page and ">pia<" not in page.replace("team default</span> pia", "")
    assert "pia" in page

    # A bad key comes back next to its field, and the key is not put back in the form.
    bad = await client.post(
        "/admin/credentials", form={**form, "name": "other", "key": "sk-ant with spaces " * 2}
    )
    text = await bad.get_data(as_text=True)
    assert bad.status_code == 422 and "AUTH_019" in text and "with spaces" not in text
    assert 'value="other"' in text

    cid = (await services.credentials.resolve("team")).id
    rotated = await client.post(
        f"/admin/credentials/{cid}/rotate", form={"csrf_token": csrf, "key": NEW_KEY}
    )
    assert rotated.status_code == 302
    key = await services.credentials.key_for((await services.accounts.get_by_username("pia")).id)
    assert key is not None and key.secret == NEW_KEY

    assigned = await client.post(
        f"/admin/credentials/{cid}/assign", form={"csrf_token": csrf, "users": "pia, quinn"}
    )
    assert assigned.status_code == 302
    shown = await services.credentials.get(cid)
    assert shown.assigned == ("pia", "quinn") and not shown.is_default
    unknown = await client.post(
        f"/admin/credentials/{cid}/assign", form={"csrf_token": csrf, "users": "nobody"}
    )
    assert unknown.status_code == 404 and "nobody" in await unknown.get_data(as_text=True)

    # Delete: a confirm step first, which says who falls back.
    skipped = await client.post(f"/admin/credentials/{cid}/delete", form={"csrf_token": csrf})
    assert skipped.status_code == 302 and skipped.headers["Location"].endswith("/delete")
    confirm = await (await client.get(f"/admin/credentials/{cid}/delete")).get_data(as_text=True)
    assert "pia, quinn" in confirm and "sk-ant-…ROTA" in confirm
    no_csrf = await client.post(f"/admin/credentials/{cid}/delete", form={"confirm": "yes"})
    assert no_csrf.status_code == 403
    done = await client.post(
        f"/admin/credentials/{cid}/delete", form={"csrf_token": csrf, "confirm": "yes"}
    )
    assert done.status_code == 302
    assert await services.credentials.list_keys() == []

    user, _ = await sign_in(app, "pia")
    assert (await user.get("/admin/credentials")).status_code == 403


async def test_the_usage_page_draws_daily_tokens_by_user(
    app: QuartTrio, services: Services
) -> None:
    await setup(services)
    for name, tokens in (("pia", 1500), ("quinn", 700)):
        found = await services.accounts.get_by_username(name)
        await services.llm_usage.record(row(found.id, tokens))
    client, csrf = await sign_in(app, "padmin")
    page = await (await client.get("/admin/usage")).get_data(as_text=True)
    assert '<svg class="chart bars"' in page
    assert len(re.findall(r"<rect x=", page)) == 2
    assert "pia, " in page and "1,500 tokens" in page and "quinn" in page
    assert "2,200" in page  # the total row

    by_model = await (await client.get("/admin/usage?group_by=model&user=pia")).get_data(
        as_text=True
    )
    assert "claude-sonnet-4" in by_model and "No monthly budget" in by_model
    bad = await client.get("/admin/usage?from=someday")
    assert bad.status_code == 400 and "from: not an ISO 8601" in await bad.get_data(as_text=True)

    set_budget = await client.post(
        "/admin/usage/budget",
        form={"csrf_token": csrf, "username": "pia", "monthly_tokens": "1,800"},
    )
    assert set_budget.status_code == 302
    page = await (await client.get(set_budget.headers["Location"])).get_data(as_text=True)
    assert "Budget saved." in page and "80% of the monthly budget used" in page
    wrong = await client.post(
        "/admin/usage/budget", form={"csrf_token": csrf, "username": "pia", "monthly_tokens": "x"}
    )
    assert wrong.status_code == 422

    user, _ = await sign_in(app, "quinn")
    own = await (await user.get("/me/usage?group_by=user")).get_data(as_text=True)
    assert "quinn" in own and "pia" not in own


async def test_me_shows_the_key_in_effect_own_keys_the_switch_and_the_notice(
    app: QuartTrio, services: Services
) -> None:
    await setup(services)
    pia = await services.accounts.get_by_username("pia")
    client, csrf = await sign_in(app, "pia")
    page = await (await client.get("/me")).get_data(as_text=True)
    assert "No API key assigned." in page and "add-own-key" not in page

    await services.credentials.create(ACTOR, "team", KEY, default=True)
    page = await (await client.get("/me")).get_data(as_text=True)
    assert "sk-ant-…PAGE" in page and "the team default" in page and KEY[:-4] not in page

    live = services.live
    live.current = attrs.evolve(live.current, credentials=CredentialsSettings(user_keys=True))
    added = await client.post(
        "/me/claude/keys", form={"csrf_token": csrf, "name": "mine", "key": OWN}
    )
    assert added.status_code == 302
    page = await (await client.get(here(added))).get_data(as_text=True)
    assert "Key stored." in page and "pia/mine" in page and "(your own)" in page
    refused = await client.post(
        "/me/claude/keys", form={"csrf_token": csrf, "name": "two", "key": "short"}
    )
    page = await (await client.get(here(refused))).get_data(as_text=True)
    assert "AUTH_019" in page

    switched = await client.post(
        "/me/claude/gateway", form={"csrf_token": csrf, "own_subscription": "on"}
    )
    page = await (await client.get(here(switched))).get_data(as_text=True)
    assert "your own Claude subscription" in page and "next rebuild" in page
    assert await services.llm_usage.gateway_enabled(pia.id) is False

    await services.llm_usage.set_budget(ACTOR, pia.id, 1000)
    page = await (await client.get("/me")).get_data(as_text=True)
    assert "budget-notice" not in page
    await services.llm_usage.record(row(pia.id, 850))
    page = await (await client.get("/me")).get_data(as_text=True)
    assert "You have used 85% of your monthly token budget." in page
    await services.llm_usage.record(row(pia.id, 200))
    page = await (await client.get("/me")).get_data(as_text=True)
    assert "whole monthly token budget" in page
