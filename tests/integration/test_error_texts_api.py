"""Error bodies fit the error and the reader, through the real API and pages over Postgres:
an unknown time zone is a 422, query errors talk about the query, ``expires_at`` errors name no
Python type, and an admin's 404 does not send them to "ask an admin"."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from tests.integration.hoststack import Stack
from tests.integration.test_pages import ACTOR, PASSWORD, sign_in

PYTHON_WORDS = ("datetime", "NoneType", "None", "typing", "@ body")


async def test_a_time_zone_outside_the_tz_database_is_refused(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user(max_hosts=2)
    status, body = await idle_stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "timezone": "Mars/Olympus"}
    )
    assert status == 422, body
    error = body["error"]
    assert error["code"] == "SYSTEM_004" and error["slug"] == "validation_failed"
    assert error["message"].startswith("timezone 'Mars/Olympus' is not in the tz database")
    _, listed = await idle_stack.call("GET", f"/v1/admin/hosts?user_id={user_id}")
    assert listed["total"] == 0  # nothing stored

    status, host = await idle_stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "timezone": "Europe/Berlin"}
    )
    assert status == 201, host
    _, shown = await idle_stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["timezone"] == "Europe/Berlin"


async def test_the_host_form_shows_an_unknown_time_zone_next_to_the_field(
    app: QuartTrio, services: Services
) -> None:
    await services.accounts.create(ACTOR, username="tzadmin", role="admin", password=PASSWORD)
    owner, _ = await services.accounts.create(ACTOR, username="tzuser", password=PASSWORD)
    admin, csrf = await sign_in(app, "tzadmin")
    response = await admin.post(
        "/admin/hosts",
        form={"csrf_token": csrf, "user_id": str(owner.id), "timezone": "Mars/Olympus"},
    )
    assert response.status_code == 422
    text = await response.get_data(as_text=True)
    shown = re.search(r'id="timezone"[^>]*>\s*<div class="field-error">([^<]*)<', text)
    assert shown is not None, text
    assert "is not in the tz database" in shown[1]
    assert (await services.hosts.list_hosts(limit=10, offset=0, user_id=owner.id)).total == 0


@pytest.mark.parametrize(
    ("query", "named"),
    [("limit=abc", "whole numbers"), ("limit=0", "limit must be 1..200"), ("offset=-1", "offset")],
)
async def test_a_bad_query_parameter_gets_a_fix_about_the_query(
    idle_stack: Stack, query: str, named: str
) -> None:
    for path in ("/v1/admin/hosts", "/v1/admin/users"):
        status, body = await idle_stack.call("GET", f"{path}?{query}")
        assert status == 400, body
        error = body["error"]
        assert (error["code"], error["slug"]) == ("SYSTEM_025", "bad_query"), error
        assert named in error["message"], error
        assert "query parameter" in error["fix"], error
        assert "JSON" not in error["fix"] and "body" not in error["fix"], error


@pytest.mark.parametrize("value", ["tomorrow", 5, True, ["2030-01-01"]])
async def test_expires_at_errors_name_no_python_types(idle_stack: Stack, value: Any) -> None:
    user_id, _ = await idle_stack.user()
    attempts = [
        ("POST", "/v1/admin/users", {"username": "expiry-x", "expires_at": value}),
        ("PATCH", f"/v1/admin/users/{user_id}", {"expires_at": value}),
        ("POST", f"/v1/admin/users/{user_id}/expiry", {"expires_at": value}),
    ]
    for method, path, payload in attempts:
        status, body = await idle_stack.call(method, path, json=payload)
        assert status == 422, (path, body)
        error = body["error"]
        assert (error["code"], error["slug"]) == ("SYSTEM_004", "validation_failed")
        assert error["message"].startswith("expires_at must be an ISO 8601 date or time"), error
        assert error["message"].endswith(" or null"), error
        assert error["fix"] == "Fix the fields named in the message."
        for word in PYTHON_WORDS:
            assert word not in error["message"], (word, error)


async def test_an_admin_is_not_told_to_ask_an_admin_about_an_unknown_host(
    idle_stack: Stack,
) -> None:
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"/v1/admin/hosts/{missing}"),
        ("POST", f"/v1/admin/hosts/{missing}/start"),
        ("GET", f"/v1/user/hosts/{missing}"),  # an admin on the users' endpoint too
    ]:
        status, body = await idle_stack.call(method, path)
        assert status == 404, (path, body)
        error = body["error"]
        assert (error["code"], error["slug"]) == ("STATE_005", "host_not_found"), error
        assert str(missing) in error["message"]
        assert "ask an admin" not in error["fix"].lower(), (path, error)
        assert "hosts list" in error["fix"], error

    _, alice = await idle_stack.user()
    status, body = await idle_stack.call("GET", f"/v1/user/hosts/{missing}", headers=alice)
    assert status == 404
    assert body["error"]["fix"].startswith("Ask an admin to create a box for you")


async def test_the_admin_host_page_of_an_unknown_host_has_the_admin_fix(
    app: QuartTrio, services: Services
) -> None:
    await services.accounts.create(ACTOR, username="nfadmin", role="admin", password=PASSWORD)
    admin, _ = await sign_in(app, "nfadmin")
    response = await admin.get(f"/admin/hosts/{uuid.uuid4()}")
    assert response.status_code == 404
    text = await response.get_data(as_text=True)
    assert "hosts list" in text and "Ask an admin" not in text
