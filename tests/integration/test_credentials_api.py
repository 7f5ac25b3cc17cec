"""API keys, usage and budgets over HTTP and through the real ``cloudclaudectl``, against a real
Postgres (issue 18): masks in every answer, registry codes for bad input, own rows only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import CredentialsSettings
from cloudclaude.ctl.server import CtlServer
from cloudclaude.model.audit import Actor, AuditFilter
from cloudclaude.model.credentials import UsageRow
from tests.integration.conftest import bearer
from tests.integration.ctlserver import ctl_run

ACTOR = Actor(name="test")
PASSWORD = "api-password-12345"
KEY = "sk-ant-api03-first-team-key-000-WXYZ"
NEW_KEY = "sk-ant-api03-rotated-team-key-00-QRST"
OWN = "sk-ant-api03-kims-own-secret-key-OWNK"
SECRETS = (KEY, NEW_KEY, OWN)


class Client:
    def __init__(self, app: QuartTrio, headers: dict[str, str]) -> None:
        self.app, self.headers = app, headers
        self.bodies: list[str] = []

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = await self.app.test_client().open(
            path, method=method, json=body, headers=self.headers
        )
        text = await response.get_data(as_text=True)
        self.bodies.append(text)
        return response.status_code, json.loads(text) if text else None

    def assert_no_secret(self) -> None:
        for text in self.bodies:
            for secret in SECRETS:
                assert secret not in text and secret[:-4] not in text


@pytest.fixture
async def users(services: Services, app: QuartTrio, admin: dict[str, Any]) -> dict[str, Client]:
    for name in ("kim", "lee"):
        await services.accounts.create(ACTOR, username=name, password=PASSWORD)
    logins = {
        name: await services.accounts.login(name, PASSWORD, "127.0.0.1") for name in ("kim", "lee")
    }
    clients = {name: Client(app, bearer(login.token)) for name, login in logins.items()}
    clients["admin"] = Client(app, admin["headers"])
    return clients


def allow_user_keys(services: Services, on: bool, default_monthly_tokens: int = 0) -> None:
    live = services.live
    live.current = attrs.evolve(
        live.current,
        credentials=CredentialsSettings(
            user_keys=on, default_monthly_tokens=default_monthly_tokens
        ),
    )


async def test_admin_manages_keys_and_answers_show_masks_only(
    services: Services, users: dict[str, Client]
) -> None:
    api = users["admin"]
    status, created = await api(
        "POST", "/v1/admin/credentials", {"name": "team", "key": KEY, "default": True}
    )
    assert status == 201, created
    assert created["key"] == "sk-ant-…WXYZ" and created["is_default"] is True
    assert created["kind"] == "team" and created["assigned"] == []
    cid = created["id"]

    status, listed = await api("GET", "/v1/admin/credentials")
    assert status == 200 and [c["name"] for c in listed["items"]] == ["team"]
    status, shown = await api("GET", f"/v1/admin/credentials/{cid}")
    assert status == 200 and shown == created

    body = {"users": ["kim"], "default": False}
    status, assigned = await api("PUT", f"/v1/admin/credentials/{cid}/assignment", body)
    assert status == 200 and assigned["assigned"] == ["kim"] and assigned["is_default"] is False
    status, rotated = await api("POST", f"/v1/admin/credentials/{cid}/rotate", {"key": NEW_KEY})
    assert status == 200 and rotated["key"] == "sk-ant-…QRST" and rotated["rotated_at"]
    key = await services.credentials.key_for(assigned_user := (await user_id(services, "kim")))
    assert key is not None and key.secret == NEW_KEY
    del assigned_user

    # Bad input: registry codes, and the key never echoed.
    cases = [
        ("POST", "/v1/admin/credentials", {"name": "x", "key": "short"}, 422, "AUTH_019"),
        ("POST", "/v1/admin/credentials", {"name": "team", "key": KEY}, 409, "STATE_018"),
        ("POST", "/v1/admin/credentials", {"name": "bad name", "key": KEY}, 422, "SYSTEM_"),
        ("POST", "/v1/admin/credentials", {"name": "x"}, 422, "SYSTEM_"),
        ("GET", "/v1/admin/credentials/not-an-id", None, 404, "STATE_017"),
        ("PUT", f"/v1/admin/credentials/{cid}/assignment", {"users": ["ghost"]}, 404, "STATE_"),
        ("PUT", f"/v1/admin/credentials/{cid}/assignment", {"users": "kim"}, 422, "SYSTEM_"),
    ]
    for method, path, payload, want, code in cases:
        status, refused = await api(method, path, payload)
        assert status == want and refused["error"]["code"].startswith(code), (path, refused)
    status, refused = await users["kim"]("GET", "/v1/admin/credentials")
    assert status == 403

    status, _ = await api("DELETE", f"/v1/admin/credentials/{cid}")
    assert status == 204
    status, gone = await api("GET", f"/v1/admin/credentials/{cid}")
    assert status == 404 and gone["error"]["slug"] == "credential_not_found"
    api.assert_no_secret()


async def user_id(services: Services, name: str) -> Any:
    return (await services.accounts.get_by_username(name)).id


async def test_users_own_keys_only_when_allowed(
    services: Services, users: dict[str, Client]
) -> None:
    kim, lee = users["kim"], users["lee"]
    status, mine = await kim("GET", "/v1/user/credentials")
    assert status == 200 and mine == {
        "items": [],
        "user_keys": False,
        "in_effect": None,
        "llm_gateway": True,
    }
    status, off = await kim("POST", "/v1/user/credentials", {"name": "mine", "key": OWN})
    assert status == 403 and off["error"]["code"] == "AUTH_018", off

    allow_user_keys(services, True)
    status, made = await kim("POST", "/v1/user/credentials", {"name": "mine", "key": OWN})
    assert status == 201 and made["name"] == "kim/mine" and made["key"] == "sk-ant-…OWNK"
    status, mine = await kim("GET", "/v1/user/credentials")
    assert mine["in_effect"]["name"] == "kim/mine" and mine["in_effect"]["kind"] == "user"
    path = f"/v1/user/credentials/{made['id']}"
    status, theirs = await lee("DELETE", path)
    assert status == 404 and theirs["error"]["code"] == "STATE_017"
    status, theirs = await lee("POST", f"{path}/rotate", {"key": NEW_KEY})
    assert status == 404
    status, rotated = await kim("POST", f"{path}/rotate", {"key": NEW_KEY})
    assert status == 200 and rotated["key"] == "sk-ant-…QRST"

    allow_user_keys(services, False)
    status, off = await kim("POST", f"{path}/rotate", {"key": OWN})
    assert status == 403 and off["error"]["slug"] == "user_keys_off"
    status, _ = await kim("DELETE", path)  # removing one's own key is always allowed
    assert status == 204

    status, switched = await kim("PUT", "/v1/user/llm-gateway", {"enabled": False})
    assert status == 200 and switched == {"enabled": False}
    assert await services.llm_usage.gateway_enabled(await user_id(services, "kim")) is False
    status, _ = await kim("PUT", "/v1/user/llm-gateway", {"enabled": "no"})
    assert status == 422
    lee_id = await user_id(services, "lee")
    status, _ = await users["admin"](
        "PUT", f"/v1/admin/users/{lee_id}/llm-gateway", {"enabled": False}
    )
    assert status == 200 and await services.llm_usage.gateway_enabled(lee_id) is False
    kim.assert_no_secret()


def usage_row(uid: Any, tokens: int, model: str) -> UsageRow:
    return UsageRow(
        user_id=uid,
        host_id=None,
        credential_id=None,
        kind="team",
        model=model,
        input_tokens=tokens,
        output_tokens=0,
        cache_creation_tokens=0,
        cache_read_tokens=0,
        status=200,
        latency_ms=5,
    )


async def test_usage_and_budgets_over_http(services: Services, users: dict[str, Client]) -> None:
    admin, kim = users["admin"], users["kim"]
    kim_id, lee_id = await user_id(services, "kim"), await user_id(services, "lee")
    await services.llm_usage.record(usage_row(kim_id, 300, "claude-opus-4"))
    await services.llm_usage.record(usage_row(kim_id, 100, "claude-haiku-4"))
    await services.llm_usage.record(usage_row(lee_id, 50, "claude-opus-4"))

    status, by_user = await admin("GET", "/v1/admin/usage?group_by=user")
    assert status == 200, by_user
    assert [(g["key"], g["total_tokens"], g["requests"]) for g in by_user["items"]] == [
        ("kim", 400, 2),
        ("lee", 50, 1),
    ]
    assert by_user["totals"]["total_tokens"] == 450 and by_user["budget"] is None
    status, by_model = await admin("GET", "/v1/admin/usage?user=kim&group_by=model")
    assert [g["key"] for g in by_model["items"]] == ["claude-opus-4", "claude-haiku-4"]
    assert by_model["budget"]["limit_tokens"] is None and by_model["budget"]["used_tokens"] == 400
    status, by_day = await admin("GET", "/v1/admin/usage?from=2000-01-01&to=2000-01-31")
    assert status == 200 and by_day["items"] == [] and by_day["totals"]["requests"] == 0
    for query, code in (("group_by=week", "bad_query"), ("from=yesterday", "bad_query")):
        status, bad = await admin("GET", f"/v1/admin/usage?{query}")
        assert status == 400 and bad["error"]["slug"] == code, bad

    status, own = await kim("GET", "/v1/user/usage?group_by=user")
    assert status == 200 and [g["key"] for g in own["items"]] == ["kim"]
    assert own["budget"]["used_tokens"] == 400
    status, _ = await kim("GET", "/v1/user/usage?user=lee")
    assert status == 403
    status, _ = await kim("GET", "/v1/admin/usage")
    assert status == 403

    path = f"/v1/admin/users/{kim_id}/budget"
    status, set_ = await admin("PUT", path, {"monthly_tokens": 500})
    assert status == 200 and set_["monthly_tokens"] == 500
    assert set_["budget"]["warning"] is True and set_["budget"]["exhausted"] is False
    for payload in ({"monthly_tokens": -1}, {"monthly_tokens": "lots"}, {}):
        status, bad = await admin("PUT", path, payload)
        assert status == 422, (payload, bad)
    allow_user_keys(services, False, default_monthly_tokens=1000)
    status, cleared = await admin("PUT", path, {"monthly_tokens": None})
    assert status == 200 and cleared["budget"]["limit_tokens"] == 1000
    changed = await services.audit.count(AuditFilter(type="admin.user.updated", user_id=kim_id))
    assert changed == 2


async def test_ctl_credentials_usage_and_budget(
    ctl: CtlServer, services: Services, tmp_path: Path
) -> None:
    await services.accounts.create(ACTOR, username="max", password=PASSWORD)
    made = await ctl_run(
        ctl,
        "credentials",
        "create",
        "team",
        "--default",
        "--assign",
        "max",
        stdin=f"{KEY}\n".encode(),
    )
    assert made.returncode == 0, made.stderr
    assert b"sk-ant-\xe2\x80\xa6WXYZ" in made.stdout and KEY.encode() not in made.stdout
    listed = await ctl_run(ctl, "--json", "credentials", "list")
    items = json.loads(listed.stdout)["items"]
    assert [(c["name"], c["is_default"], c["assigned"]) for c in items] == [("team", True, ["max"])]

    key_file = tmp_path / "key"
    key_file.write_text(NEW_KEY + "\n")
    rotated = await ctl_run(ctl, "credentials", "rotate", "team", "--key-file", str(key_file))
    assert rotated.returncode == 0, rotated.stderr
    key = await services.credentials.key_for(await user_id(services, "max"))
    assert key is not None and key.secret == NEW_KEY
    empty = await ctl_run(ctl, "credentials", "rotate", "team", stdin=b"\n")
    assert empty.returncode == 2 and b"no key given" in empty.stderr
    bad = await ctl_run(ctl, "credentials", "rotate", "team", stdin=b"short\n")
    assert bad.returncode == 1 and b"AUTH_019" in bad.stderr

    assigned = await ctl_run(
        ctl, "--json", "credentials", "assign", "team", "--users", "--no-default"
    )
    assert assigned.returncode == 0, assigned.stderr
    shown = json.loads(assigned.stdout)
    assert shown["assigned"] == [] and shown["is_default"] is False

    uid = await user_id(services, "max")
    await services.llm_usage.record(usage_row(uid, 1234, "claude-opus-4"))
    usage = await ctl_run(ctl, "--json", "usage", "--user", "max", "--group-by", "model")
    data = json.loads(usage.stdout)
    assert [(g["key"], g["total_tokens"]) for g in data["items"]] == [("claude-opus-4", 1234)]
    human = await ctl_run(ctl, "usage", "--group-by", "user")
    assert human.returncode == 0 and b"max" in human.stdout and b"1,234" in human.stdout

    budget = await ctl_run(ctl, "users", "budget", "max", "1_000")
    assert budget.returncode == 0 and b"EXHAUSTED" in budget.stdout, budget.stdout
    assert (await services.llm_usage.budget(uid)).exhausted
    none = await ctl_run(ctl, "--json", "users", "budget", "max", "none")
    assert json.loads(none.stdout)["monthly_tokens"] is None
    wrong = await ctl_run(ctl, "users", "budget", "max", "lots")
    assert wrong.returncode == 1 and b"validation_failed" in wrong.stderr
    off = await ctl_run(ctl, "users", "gateway", "max", "--off")
    assert off.returncode == 0 and not await services.llm_usage.gateway_enabled(uid)

    deleted = await ctl_run(ctl, "credentials", "delete", "team")
    assert deleted.returncode == 0, deleted.stderr
    missing = await ctl_run(ctl, "credentials", "delete", "team")
    assert missing.returncode == 1 and b"credential_not_found" in missing.stderr
    events = await services.audit.page(AuditFilter(), limit=100)
    assert KEY not in json.dumps([e.metadata for e in events.items])
