"""``/v1/openapi.json``: valid OpenAPI 3.1, every ``/v1`` route in it, errors from the registry.

The app is the real ``create_app``; building the document reads only its routes and the
declarations, so no service is needed.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from openapi_spec_validator import validate
from quart import Blueprint
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.errors import REGISTRY
from web.api.openapi import build, openapi_path
from web.app import create_app


@pytest.fixture
def app() -> QuartTrio:
    return create_app(LiveSettings(Settings()), cast(Services, None))


def _v1_operations(app: QuartTrio) -> set[tuple[str, str]]:
    """(method, path) of every ``/v1`` route, read from the app's url_map."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                found.add((method.lower(), openapi_path(rule)))
    return found


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1(app: QuartTrio) -> None:
    doc = build(app)
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_v1_route_is_in_the_document(app: QuartTrio) -> None:
    routes = _v1_operations(app)
    assert len(routes) > 40
    missing = routes - _documented(build(app))
    assert not missing, f"routes missing from /v1/openapi.json: {sorted(missing)}"


def test_a_new_route_shows_up_without_being_listed_anywhere(app: QuartTrio) -> None:
    extra = Blueprint("api_extra", __name__, url_prefix="/v1/extra")

    @extra.get("/<thing_id>")
    async def show_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.register_blueprint(extra)
    doc = build(app)
    op = doc["paths"]["/v1/extra/{thing_id}"]["get"]
    assert op["x-undeclared"] is True
    assert op["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    # Undeclared, it may answer any registry status.
    statuses = {str(row.http_status) for row in REGISTRY}
    assert statuses <= set(op["responses"])
    validate(doc)


def test_auth_comes_from_the_guards_the_routes_run(app: QuartTrio) -> None:
    paths = build(app)["paths"]
    assert paths["/v1/admin/users"]["get"]["security"] == [{"bearer": ["admin"]}]
    assert paths["/v1/user/hosts"]["get"]["security"] == [{"bearer": []}]
    assert paths["/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert paths["/v1/auth/login"]["post"]["security"] == []
    assert paths["/v1/bootstrap/tasks/{task_id}"]["get"]["security"] == [{"bearer": ["bootstrap"]}]


def test_bodies_and_pages_come_from_the_attrs_models(app: QuartTrio) -> None:
    doc = build(app)
    schemas = doc["components"]["schemas"]
    create = doc["paths"]["/v1/admin/users"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schemas[ref.rsplit("/", 1)[1]]
    assert body["required"] == ["username"]
    assert body["additionalProperties"] is False  # the strict converter refuses unknown keys
    assert body["properties"]["expires_at"]["anyOf"][0]["format"] == "date-time"
    login = schemas["LoginBody"]["properties"]
    assert login["username"]["maxLength"] == 64  # from the attrs validator
    page = schemas["UserOutPage"]
    assert set(page["required"]) == {"items", "total", "limit", "offset"}
    limit = next(
        p for p in doc["paths"]["/v1/admin/users"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}


def test_error_answers_carry_the_registry_codes(app: QuartTrio) -> None:
    doc = build(app)
    schemas = doc["components"]["schemas"]
    for row in REGISTRY:
        codes = schemas[f"Error{row.http_status}"]["properties"]["error"]["properties"]["code"]
        assert row.code in codes["enum"]
    conflict = doc["paths"]["/v1/admin/users/{user_id}"]["delete"]["responses"]["409"]
    assert "user_has_hosts" in conflict["description"]
    login = doc["paths"]["/v1/auth/login"]["post"]["responses"]
    assert {"401", "422", "429"} <= set(login)
