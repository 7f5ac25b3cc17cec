"""Authentication and bad input over HTTP: every admin route guarded, errors always coded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.model.audit import Actor
from tests.integration.conftest import bearer


def _admin_routes(app: QuartTrio) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/admin"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", str(uuid.uuid4()))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


@pytest.fixture
async def user_token(services: Services) -> str:
    await services.accounts.create(
        Actor(name="test"), username="plainuser", password="plain-user-pass"
    )
    return (await services.accounts.login("plainuser", "plain-user-pass", None)).token


async def test_admin_routes_exist(app: QuartTrio) -> None:
    assert len(_admin_routes(app)) >= 12


async def test_every_admin_route_needs_a_token(app: QuartTrio) -> None:
    for method, path in _admin_routes(app):
        response = await app.test_client().open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert (await response.get_json())["error"]["slug"] == "auth_required"


async def test_every_admin_route_refuses_a_user_token(app: QuartTrio, user_token: str) -> None:
    for method, path in _admin_routes(app):
        response = await app.test_client().open(
            path, method=method, json={}, headers=bearer(user_token)
        )
        assert response.status_code == 403, (method, path)
        assert (await response.get_json())["error"]["slug"] == "forbidden"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer eyJhbGciOiJub25lIiwia2lkIjoieCJ9.eyJzdWIiOiJ4In0.",
        "Basic YWRtaW46YWRtaW4=",
    ],
)
async def test_bad_tokens_are_refused(app: QuartTrio, header: str) -> None:
    response = await app.test_client().get("/v1/me", headers={"Authorization": header})
    assert response.status_code == 401


async def test_wrong_password_and_unknown_user_look_the_same(
    app: QuartTrio, admin: dict[str, Any]
) -> None:
    client = app.test_client()
    wrong = await client.post(
        "/v1/auth/login", json={"username": "root-admin", "password": "wrong-password"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"username": "nobody-here", "password": "wrong-password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (await wrong.get_json()) == (await unknown.get_json())


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b"", 400, "bad_request"),
        (b'{"username": "x1", "bogus": 1}', 422, "validation_failed"),
        (b'{"username": 5}', 422, "validation_failed"),
        (b'{"username": "x2", "max_hosts": true}', 422, "validation_failed"),
        (b'{"username": "x3", "expires_at": "next tuesday"}', 422, "validation_failed"),
        (b'{"username": "Bad Name"}', 422, "validation_failed"),
        (b'{"username": "x4", "role": "root"}', 422, "validation_failed"),
        (b'{"username": "x5", "password": "short"}', 422, "password_invalid"),
        (b'{"username": "x6", "max_hosts": -1}', 422, "validation_failed"),
        (b'{"username": "' + b"a" * 2_000_000 + b'"}', 413, "body_too_large"),
    ],
)
async def test_bad_bodies_get_coded_4xx(
    app: QuartTrio, admin: dict[str, Any], services: Services, body: bytes, status: int, slug: str
) -> None:
    before = await services.accounts.count()
    response = await app.test_client().post(
        "/v1/admin/users",
        data=body,
        headers={**admin["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == status
    error = (await response.get_json())["error"]
    assert error["slug"] == slug
    assert set(error) >= {"code", "slug", "message", "cause", "fix"}
    assert await services.accounts.count() == before


async def test_unknown_path_and_method_are_coded(app: QuartTrio) -> None:
    client = app.test_client()
    assert (await (await client.get("/v1/nope")).get_json())["error"]["code"] == "STATE_001"
    wrong = await client.put("/v1/auth/login")
    assert wrong.status_code == 405
    assert (await wrong.get_json())["error"]["slug"] == "method_not_allowed"


async def test_malformed_ids_are_404_not_500(app: QuartTrio, admin: dict[str, Any]) -> None:
    response = await app.test_client().get("/v1/admin/users/not-a-uuid", headers=admin["headers"])
    assert response.status_code == 404


LOOPBACK = {"client": ("127.0.0.1", 5000)}
ELSEWHERE = {"client": ("198.18.0.9", 5000)}


async def test_healthz_reports_database_and_agent(app: QuartTrio) -> None:
    response = await app.test_client().get("/healthz", scope_base=LOOPBACK)
    body = await response.get_json()
    assert response.status_code == 200
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["agent"]["status"] == "ok"
    assert body["checks"]["agent"]["mode"] == "embedded"


async def test_healthz_tells_others_only_the_status(
    app: QuartTrio, admin: dict[str, Any], user_token: str
) -> None:
    client = app.test_client()
    anonymous = await client.get("/healthz", scope_base=ELSEWHERE)
    assert anonymous.status_code == 200 and await anonymous.get_json() == {"status": "ok"}
    user = await client.get("/healthz", scope_base=ELSEWHERE, headers=bearer(user_token))
    assert await user.get_json() == {"status": "ok"}
    wrong = await client.get("/healthz", scope_base=ELSEWHERE, headers=bearer("not-a-token"))
    assert wrong.status_code == 200 and await wrong.get_json() == {"status": "ok"}
    shown = await client.get("/healthz", scope_base=ELSEWHERE, headers=admin["headers"])
    assert (await shown.get_json())["checks"]["database"]["status"] == "ok"


async def test_healthz_is_503_when_the_database_is_unreachable(
    app: QuartTrio, services: Services, pg_cluster: Any, database_url: str
) -> None:
    name = database_url.split("/")[3].split("?")[0]
    pg_cluster.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    pg_cluster.psql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    try:
        response = await app.test_client().get("/healthz", scope_base=LOOPBACK)
        assert response.status_code == 503
        assert (await response.get_json())["checks"]["database"]["status"] == "error"
        public = await app.test_client().get("/healthz", scope_base=ELSEWHERE)
        assert public.status_code == 503 and await public.get_json() == {"status": "down"}
    finally:
        pg_cluster.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_metrics_on_loopback_only(app: QuartTrio) -> None:
    client = app.test_client()
    local = await client.get("/metrics", scope_base={"client": ("127.0.0.1", 5000)})
    assert local.status_code == 200
    assert b"cloudclaude_http_requests_total" in await local.get_data()
    remote = await client.get("/metrics", scope_base={"client": ("198.18.0.9", 5000)})
    assert remote.status_code == 403
    assert (await remote.get_json())["error"]["slug"] == "metrics_forbidden"
