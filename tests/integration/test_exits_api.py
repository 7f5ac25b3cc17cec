"""Exits and bindings over HTTP with a real Postgres: CRUD, sealed secrets, bindings, audit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.auth.sealing import unseal
from cloudclaude.core.serverkey import load_or_create
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.domain.exits import EXIT_CREDENTIALS
from tests.integration.conftest import bearer, random_name

SOCKS = {
    "kind": "socks5",
    "server": "198.18.0.2",
    "port": 1080,
    "username": "alice",
    "password": "socks-password-42",
    "expected_ip": "198.18.0.2",
    "dns_server": "198.18.0.53",
    "verify_url": "http://198.18.0.80/ip",
}
VMESS_UUID = "3b241101-e2bb-4255-8caf-4136c566a962"
DIRECT = {"kind": "direct", "dns_server": "198.18.0.53"}


class Api:
    def __init__(self, app: QuartTrio, admin: dict[str, Any]) -> None:
        self.app = app
        self.headers = admin["headers"]

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        response = await self.app.test_client().open(
            path, method=method, json=body, headers=headers or self.headers
        )
        data = await response.get_data(as_text=True)
        return response.status_code, json.loads(data) if data else None

    async def exit(self, **body: Any) -> dict[str, Any]:
        body = {"label": random_name("x"), **(SOCKS if "kind" not in body else {}), **body}
        status, created = await self.call("POST", "/v1/admin/egress-ips", body)
        assert status == 201, created
        return dict(created)

    async def user(self) -> tuple[str, dict[str, str]]:
        status, user = await self.call(
            "POST", "/v1/admin/users", {"username": random_name(), "max_hosts": 3}
        )
        assert status == 201, user
        return str(user["id"]), {"username": user["username"], "password": user["password"]}

    async def host(self, user_id: str | None = None, **extra: Any) -> dict[str, Any]:
        if user_id is None:
            user_id, _ = await self.user()
        status, host = await self.call("POST", "/v1/admin/hosts", {"user_id": user_id, **extra})
        assert status == 201, host
        return dict(host)


def _api(app: QuartTrio, admin: dict[str, Any]) -> Api:
    return Api(app, admin)


async def _audit(api: Api, kind: str) -> list[dict[str, Any]]:
    status, page = await api.call("GET", f"/v1/admin/events?type={kind}")
    assert status == 200, page
    return list(page["items"])


async def test_exit_lifecycle_masks_secrets_and_audits(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    api = _api(app, admin)
    created = await api.exit(label="paris-1", **SOCKS)
    assert created["label"] == "paris-1" and created["kind"] == "socks5"
    assert created["password"] == "••••42" and created["username"] == "alice"
    assert created["expected_resolvers"] == ["198.18.0.53", "198.18.0.2"]
    assert created["egress_verified"] is True and created["status"] == "unverified"
    assert created["bound_hosts"] == 0

    status, page = await api.call("GET", "/v1/admin/egress-ips")
    assert status == 200 and [e["label"] for e in page["items"]] == ["paris-1"]
    assert "method" in page["kinds"]["shadowsocks"] and "server" not in page["kinds"]["direct"]
    status, shown = await api.call("GET", f"/v1/admin/egress-ips/{created['id']}")
    assert status == 200 and shown == created

    changed = {**SOCKS, "label": "paris-2", "expected_resolvers": ["198.18.0.99"]}
    del changed["password"]
    status, updated = await api.call("PUT", f"/v1/admin/egress-ips/{created['id']}", changed)
    assert status == 200, updated
    assert updated["label"] == "paris-2" and updated["password"] == "••••42"
    assert updated["expected_resolvers"] == ["198.18.0.99"]
    # The answer read back and sent again unchanged (mask included) changes nothing.
    resend = {k: updated[k] for k in (*SOCKS, "label", "expected_resolvers")}
    status, same = await api.call("PUT", f"/v1/admin/egress-ips/{created['id']}", resend)
    assert status == 200 and same["updated_at"] == updated["updated_at"]

    status, _ = await api.call("DELETE", f"/v1/admin/egress-ips/{created['id']}")
    assert status == 204
    status, gone = await api.call("GET", f"/v1/admin/egress-ips/{created['id']}")
    assert status == 404 and gone["error"]["code"] == "NET_009"

    events = {
        kind: await _audit(api, f"admin.exit.{kind}") for kind in ("created", "updated", "deleted")
    }
    assert [len(e) for e in events.values()] == [1, 1, 1]
    assert events["updated"][0]["metadata"]["changed"] == ["expected_resolvers", "label"]
    assert events["created"][0]["actor"] == "user:root-admin"
    assert "socks-password-42" not in json.dumps(events)


async def test_secrets_are_sealed_in_the_row_and_kept_on_update(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    api = _api(app, admin)
    vmess = {
        **{k: v for k, v in SOCKS.items() if k not in ("username", "password")},
        "kind": "vmess",
        "uuid": VMESS_UUID,
        "security": "auto",
    }
    created = await api.exit(**vmess)
    assert created["uuid"] == "••••62" and VMESS_UUID not in json.dumps(created)
    row = await services.db.fetchrow(
        "SELECT config::text AS config, credentials_enc FROM egress_ips WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    assert row is not None
    raw = row["config"] + row["credentials_enc"].hex() + row["credentials_enc"].decode("latin-1")
    assert VMESS_UUID not in raw and VMESS_UUID.replace("-", "") not in raw
    server_key = load_or_create(services.live.current.state_path)
    sealed = row["credentials_enc"]
    opened = unseal(server_key, EXIT_CREDENTIALS, sealed, owner=uuid.UUID(created["id"]))
    assert json.loads(opened) == {"uuid": VMESS_UUID}

    host = await api.host(egress_ip_id=created["id"])
    found = await services.exits.exit_for_host(uuid.UUID(host["id"]))
    assert found is not None
    exit_, spec = found
    assert exit_.id == uuid.UUID(created["id"]) and spec.uuid == VMESS_UUID
    assert spec.kind == "vmess" and spec.server == "198.18.0.2" and spec.port == 1080
    assert exit_.expected_resolvers == ("198.18.0.53", "198.18.0.2")

    status, _ = await api.call(
        "PUT",
        f"/v1/admin/egress-ips/{created['id']}",
        {**vmess, "label": created["label"], "uuid": None, "port": 2080},
    )
    assert status == 200
    found = await services.exits.exit_for_host(uuid.UUID(host["id"]))
    assert found is not None and found[1].uuid == VMESS_UUID and found[1].port == 2080


async def test_verification_results_are_recorded(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    created = await _api(app, admin).exit()
    exit_id = uuid.UUID(created["id"])
    await services.exits.record_verification(exit_id, True, "198.18.0.2\n")
    shown = await services.exits.get(exit_id)
    assert shown.status == "ok" and shown.detected_ip == "198.18.0.2"
    assert shown.last_verified_at is not None
    await services.exits.record_verification(exit_id, False, "garbage")
    shown = await services.exits.get(exit_id)
    assert shown.status == "failed" and shown.detected_ip is None


async def test_bad_exits_get_coded_errors(app: QuartTrio, admin: dict[str, Any]) -> None:
    api = _api(app, admin)
    taken = await api.exit(label="dup")
    url, nowhere = "/v1/admin/egress-ips", f"/v1/admin/egress-ips/{uuid.uuid4()}"
    socks = {**SOCKS, "label": "a"}
    cases: list[tuple[str, str, Any, int, str, str | None]] = [
        ("POST", url, {**socks, "bogus": 1}, 422, "NET_008", "bogus"),
        ("POST", url, {**socks, "port": 0}, 422, "NET_008", "port"),
        ("POST", url, {**DIRECT, "label": "a", "port": 80}, 422, "NET_008", "port"),
        ("POST", url, {**socks, "verify_url": None}, 422, "NET_008", "verify_url"),
        ("POST", url, {**SOCKS, "label": "dup"}, 409, "NET_015", None),
        ("POST", url, [1, 2], 400, "SYSTEM_003", None),
        ("GET", f"{url}/not-an-id", None, 404, "NET_009", None),
        ("GET", nowhere, None, 404, "NET_009", None),
        ("PUT", nowhere, socks, 404, "NET_009", None),
        ("PUT", f"{url}/{taken['id']}", {**socks, "server": "-x"}, 422, "NET_008", "server"),
        ("DELETE", nowhere, None, 404, "NET_009", None),
    ]
    for method, path, body, expected, code, field in cases:
        status, answer = await api.call(method, path, body)
        assert status == expected, (path, body, answer)
        assert answer["error"]["code"] == code, (path, answer)
        if field:
            assert answer["error"]["field"] == field and field in answer["error"]["message"]
    other = await api.exit(label="other")
    status, answer = await api.call(
        "PUT", f"/v1/admin/egress-ips/{other['id']}", {**SOCKS, "label": "dup"}
    )
    assert status == 409 and answer["error"]["slug"] == "exit_label_taken"
    _, user = await api.user()
    login = await api.call("POST", "/v1/auth/login", user, headers={})
    status, _ = await api.call("GET", "/v1/admin/egress-ips", headers=bearer(login[1]["token"]))
    assert status == 403


async def test_bindings_create_list_delete_and_show_on_hosts(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    api = _api(app, admin)
    exit_ = await api.exit(label="shared")
    user_id, user = await api.user()
    first = await api.host(user_id)
    second = await api.host(user_id)
    assert first["egress_ip_id"] is None and first["egress_verified"] is False

    bindings = []
    for host in (first, second):
        status, binding = await api.call(
            "POST", "/v1/admin/bindings", {"host_id": host["id"], "egress_ip_id": exit_["id"]}
        )
        assert status == 201, binding
        assert binding["host_short_id"] == host["short_id"] and binding["egress_label"] == "shared"
        bindings.append(binding)
    status, again = await api.call(
        "POST", "/v1/admin/bindings", {"host_id": first["id"], "egress_ip_id": exit_["id"]}
    )
    assert status == 409 and again["error"]["code"] == "NET_012"
    assert again["error"]["binding_id"] == bindings[0]["id"]

    status, shown = await api.call("GET", f"/v1/admin/hosts/{first['id']}")
    assert shown["egress_ip_id"] == exit_["id"] and shown["egress_label"] == "shared"
    assert shown["egress_verified"] is True
    login = await api.call("POST", "/v1/auth/login", user, headers={})
    status, mine = await api.call("GET", "/v1/user/hosts", headers=bearer(login[1]["token"]))
    assert {h["egress_label"] for h in mine["items"]} == {"shared"}
    status, listed = await api.call("GET", "/v1/admin/hosts")
    assert {h["egress_label"] for h in listed["items"]} == {"shared"}
    status, counted = await api.call("GET", f"/v1/admin/egress-ips/{exit_['id']}")
    assert counted["bound_hosts"] == 2

    status, by_host = await api.call("GET", f"/v1/admin/bindings?host_id={second['id']}")
    assert [b["id"] for b in by_host["items"]] == [bindings[1]["id"]]
    status, by_exit = await api.call("GET", f"/v1/admin/bindings?egress_ip_id={exit_['id']}")
    assert by_exit["total"] == 2

    status, _ = await api.call("DELETE", f"/v1/admin/bindings/{bindings[0]['id']}")
    assert status == 204
    status, shown = await api.call("GET", f"/v1/admin/hosts/{first['id']}")
    assert shown["egress_ip_id"] is None and shown["egress_label"] is None
    status, _ = await api.call("DELETE", f"/v1/admin/bindings/{bindings[0]['id']}")
    assert status == 404

    created = await _audit(api, "admin.binding.created")
    deleted = await _audit(api, "admin.binding.deleted")
    assert len(created) == 2 and len(deleted) == 1
    assert deleted[0]["host_id"] == first["id"] and deleted[0]["user_id"] == user_id
    assert deleted[0]["metadata"]["label"] == "shared"


async def test_a_binding_is_locked_while_the_host_runs(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    api = _api(app, admin)
    exit_ = await api.exit()
    bound = await api.host(egress_ip_id=exit_["id"])
    unbound = await api.host()
    status, page = await api.call("GET", f"/v1/admin/bindings?host_id={bound['id']}")
    binding_id = page["items"][0]["id"]
    for state in ("starting", "running", "degraded", "stopping"):
        for host in (bound, unbound):
            await hosts_repo.write(services.db, uuid.UUID(host["id"]), fields={"status": state})
        status, body = await api.call("DELETE", f"/v1/admin/bindings/{binding_id}")
        assert status == 409 and body["error"]["code"] == "NET_011", (state, body)
        status, body = await api.call(
            "POST", "/v1/admin/bindings", {"host_id": unbound["id"], "egress_ip_id": exit_["id"]}
        )
        assert status == 409 and body["error"]["code"] == "NET_011", (state, body)
    await hosts_repo.write(services.db, uuid.UUID(bound["id"]), fields={"status": "stopped"})
    status, _ = await api.call("DELETE", f"/v1/admin/bindings/{binding_id}")
    assert status == 204


async def test_an_exit_in_use_cannot_be_deleted(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    api = _api(app, admin)
    exit_ = await api.exit()
    host = await api.host(egress_ip_id=exit_["id"])
    status, body = await api.call("DELETE", f"/v1/admin/egress-ips/{exit_['id']}")
    assert status == 409 and body["error"]["code"] == "NET_010"
    assert host["short_id"] in body["error"]["message"] and body["error"]["bound_hosts"] == 1
    # A deleted host holds nothing: its binding no longer keeps the exit.
    await hosts_repo.write(services.db, uuid.UUID(host["id"]), fields={"status": "deleted"})
    status, _ = await api.call("DELETE", f"/v1/admin/egress-ips/{exit_['id']}")
    assert status == 204


async def test_host_creation_binds_the_given_exit_in_one_transaction(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    api = _api(app, admin)
    exit_ = await api.exit(label="chosen")
    user_id, _ = await api.user()
    host = await api.host(user_id, egress_ip_id=exit_["id"])
    assert host["egress_ip_id"] == exit_["id"] and host["egress_label"] == "chosen"
    created = await _audit(api, "admin.binding.created")
    assert created[0]["host_id"] == host["id"]
    assert "default_exit" not in created[0]["metadata"]

    for bad in (str(uuid.uuid4()), "not-an-id"):
        status, body = await api.call(
            "POST", "/v1/admin/hosts", {"user_id": user_id, "egress_ip_id": bad}
        )
        assert status == 404 and body["error"]["code"] == "NET_009", body
    status, page = await api.call("GET", f"/v1/admin/hosts?user_id={user_id}")
    assert page["total"] == 1  # the refused creations left no host behind


async def test_host_creation_uses_the_default_exit(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    api = _api(app, admin)
    direct = await api.exit(label="host", **DIRECT)
    assert direct["egress_verified"] is False and direct["expected_resolvers"] == ["198.18.0.53"]
    live = services.live
    live.current = attrs.evolve(
        live.current, egress=attrs.evolve(live.current.egress, default_exit="host")
    )
    user_id, _ = await api.user()
    host = await api.host(user_id)
    assert host["egress_label"] == "host" and host["egress_verified"] is False
    created = await _audit(api, "admin.binding.created")
    assert created[0]["metadata"]["default_exit"] is True

    chosen = await api.exit(label="chosen")
    explicit = await api.host(user_id, egress_ip_id=chosen["id"])
    assert explicit["egress_label"] == "chosen"

    live.current = attrs.evolve(
        live.current, egress=attrs.evolve(live.current.egress, default_exit="nowhere")
    )
    status, body = await api.call("POST", "/v1/admin/hosts", {"user_id": user_id})
    assert status == 404 and body["error"]["code"] == "NET_009"
    assert "egress.default_exit" in body["error"]["message"]
    status, page = await api.call("GET", f"/v1/admin/hosts?user_id={user_id}")
    assert page["total"] == 2
