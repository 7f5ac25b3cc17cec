"""Users through HTTP against a real Postgres: CRUD, lifecycle rules, SSH keys, own account."""

from __future__ import annotations

from typing import Any

import asyncssh
from quart_trio import QuartTrio

from tests.integration.conftest import bearer, random_name


def _pubkey(comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key("openssh").decode().strip()


async def _create(app: QuartTrio, admin: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("username", random_name())
    response = await app.test_client().post("/v1/admin/users", json=body, headers=admin["headers"])
    assert response.status_code == 201, await response.get_data()
    data: dict[str, Any] = await response.get_json()
    return data


async def _login(app: QuartTrio, username: str, password: str) -> Any:
    return await app.test_client().post(
        "/v1/auth/login", json={"username": username, "password": password}
    )


async def test_create_generates_password_once_and_user_can_log_in(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    created = await _create(app, admin, username="alice", max_hosts=2)
    assert created["username"] == "alice" and created["role"] == "user"
    assert created["max_hosts"] == 2 and created["status"] == "active"
    login = await _login(app, "alice", created["password"])
    assert login.status_code == 200
    body = await login.get_json()
    assert body["role"] == "user" and body["token"] and body["expires_at"]
    me = await app.test_client().get("/v1/me", headers=bearer(body["token"]))
    assert (await me.get_json())["username"] == "alice"
    shown = await app.test_client().get(
        f"/v1/admin/users/{created['id']}", headers=admin["headers"]
    )
    assert "password" not in await shown.get_json()


async def test_create_with_given_password_returns_no_password(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    created = await _create(app, admin, password="a-long-password")
    assert "password" not in created
    assert (await _login(app, created["username"], "a-long-password")).status_code == 200


async def test_list_pages_and_searches(app: QuartTrio, admin: dict[str, Any]) -> None:
    for name in ("zed1", "zed2", "zed3", "other"):
        await _create(app, admin, username=name)
    client = app.test_client()
    page = await (
        await client.get("/v1/admin/users?q=zed&limit=2&offset=0", headers=admin["headers"])
    ).get_json()
    assert page["total"] == 3 and [u["username"] for u in page["items"]] == ["zed1", "zed2"]
    page2 = await (
        await client.get("/v1/admin/users?q=zed&limit=2&offset=2", headers=admin["headers"])
    ).get_json()
    assert [u["username"] for u in page2["items"]] == ["zed3"]
    past_end = await (
        await client.get("/v1/admin/users?q=zed&offset=10", headers=admin["headers"])
    ).get_json()
    assert past_end == {"items": [], "total": 3, "limit": 50, "offset": 10}
    bad = await client.get("/v1/admin/users?limit=0", headers=admin["headers"])
    assert bad.status_code == 400


async def test_disable_then_enable(app: QuartTrio, admin: dict[str, Any]) -> None:
    created = await _create(app, admin)
    client = app.test_client()
    uid, name, pw = created["id"], created["username"], created["password"]
    assert (
        await client.post(f"/v1/admin/users/{uid}/disable", headers=admin["headers"])
    ).status_code == 200
    refused = await _login(app, name, pw)
    assert refused.status_code == 403
    assert (await refused.get_json())["error"]["slug"] == "account_disabled"
    await client.post(f"/v1/admin/users/{uid}/enable", headers=admin["headers"])
    assert (await _login(app, name, pw)).status_code == 200


async def test_expired_user_cannot_log_in_and_tokens_stop_working(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    created = await _create(app, admin)
    client = app.test_client()
    token = (await (await _login(app, created["username"], created["password"])).get_json())[
        "token"
    ]
    response = await client.post(
        f"/v1/admin/users/{created['id']}/expiry",
        json={"expires_at": "2000-01-01"},
        headers=admin["headers"],
    )
    assert (await response.get_json())["status"] == "expired"
    refused = await _login(app, created["username"], created["password"])
    assert (await refused.get_json())["error"]["code"] == "AUTH_003"
    me = await client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 401  # expiring the account ended its sessions
    assert (await me.get_json())["error"]["slug"] == "session_ended"
    revived = await client.post(
        f"/v1/admin/users/{created['id']}/expiry",
        json={"expires_at": None},
        headers=admin["headers"],
    )
    assert (await revived.get_json())["status"] == "active"


async def test_patch_changes_only_given_fields(app: QuartTrio, admin: dict[str, Any]) -> None:
    created = await _create(app, admin, expires_at="2999-01-01T00:00:00Z")
    response = await app.test_client().patch(
        f"/v1/admin/users/{created['id']}", json={"max_hosts": 3}, headers=admin["headers"]
    )
    body = await response.get_json()
    assert body["max_hosts"] == 3 and body["expires_at"].startswith("2999-01-01")


async def test_rotate_password_invalidates_the_old_one(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    created = await _create(app, admin)
    response = await app.test_client().post(
        f"/v1/admin/users/{created['id']}/rotate-password", headers=admin["headers"]
    )
    new = (await response.get_json())["password"]
    assert new != created["password"]
    assert (await _login(app, created["username"], created["password"])).status_code == 401
    assert (await _login(app, created["username"], new)).status_code == 200


async def test_delete_user(app: QuartTrio, admin: dict[str, Any]) -> None:
    created = await _create(app, admin)
    client = app.test_client()
    url = f"/v1/admin/users/{created['id']}"
    assert (await client.delete(url, headers=admin["headers"])).status_code == 204
    assert (await client.get(url, headers=admin["headers"])).status_code == 404
    assert (await client.delete(url, headers=admin["headers"])).status_code == 404


async def test_last_admin_cannot_be_disabled_demoted_or_deleted(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    client = app.test_client()
    uid = admin["user"].id
    for method, path, body in (
        ("POST", f"/v1/admin/users/{uid}/disable", None),
        ("PATCH", f"/v1/admin/users/{uid}", {"role": "user"}),
        ("DELETE", f"/v1/admin/users/{uid}", None),
    ):
        response = await client.open(path, method=method, json=body, headers=admin["headers"])
        assert response.status_code == 409, path
        assert (await response.get_json())["error"]["slug"] == "last_admin"


async def test_duplicate_username_is_409(app: QuartTrio, admin: dict[str, Any]) -> None:
    await _create(app, admin, username="dup")
    response = await app.test_client().post(
        "/v1/admin/users", json={"username": "dup"}, headers=admin["headers"]
    )
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "STATE_002"


async def test_admin_manages_ssh_keys(app: QuartTrio, admin: dict[str, Any]) -> None:
    created = await _create(app, admin)
    client = app.test_client()
    base = f"/v1/admin/users/{created['id']}/ssh-keys"
    key = _pubkey()
    added = await client.post(base, json={"public_key": key}, headers=admin["headers"])
    assert added.status_code == 201
    info = await added.get_json()
    assert info["fingerprint"].startswith("SHA256:")
    listed = await (await client.get(base, headers=admin["headers"])).get_json()
    assert [k["name"] for k in listed["items"]] == ["me@laptop"]
    dup = await client.post(base, json={"public_key": key}, headers=admin["headers"])
    assert dup.status_code == 409
    bad = await client.post(base, json={"public_key": "ssh-rsa nope"}, headers=admin["headers"])
    assert (await bad.get_json())["error"]["slug"] == "ssh_key_invalid"
    gone = await client.delete(f"{base}/{info['id']}", headers=admin["headers"])
    assert gone.status_code == 204
    assert (await (await client.get(base, headers=admin["headers"])).get_json())["items"] == []


async def test_user_changes_own_password_and_keys(app: QuartTrio, admin: dict[str, Any]) -> None:
    bob = await _create(app, admin)
    carol = await _create(app, admin)
    client = app.test_client()
    token = (await (await _login(app, bob["username"], bob["password"])).get_json())["token"]
    wrong = await client.post(
        "/v1/user/change-password",
        json={"current_password": "not-it-at-all", "new_password": "bob-new-password"},
        headers=bearer(token),
    )
    assert (await wrong.get_json())["error"]["slug"] == "current_password_wrong"
    ok = await client.post(
        "/v1/user/change-password",
        json={"current_password": bob["password"], "new_password": "bob-new-password"},
        headers=bearer(token),
    )
    assert ok.status_code == 204
    assert (await _login(app, bob["username"], "bob-new-password")).status_code == 200
    added = await client.post(
        "/v1/user/ssh-keys", json={"public_key": _pubkey(), "name": "work"}, headers=bearer(token)
    )
    assert added.status_code == 201
    carol_key = await client.post(
        f"/v1/admin/users/{carol['id']}/ssh-keys",
        json={"public_key": _pubkey()},
        headers=admin["headers"],
    )
    carol_key_id = (await carol_key.get_json())["id"]
    # Bob can neither see nor delete Carol's key.
    mine = await (await client.get("/v1/user/ssh-keys", headers=bearer(token))).get_json()
    assert [k["name"] for k in mine["items"]] == ["work"]
    stolen = await client.delete(f"/v1/user/ssh-keys/{carol_key_id}", headers=bearer(token))
    assert stolen.status_code == 404
