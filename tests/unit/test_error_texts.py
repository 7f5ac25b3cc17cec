"""Error texts fit their reader and their input: query errors speak of the query, body errors
name JSON types in words, and an admin is not sent to "ask an admin"."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest

from cloudclaude.domain.host_specs import visible
from cloudclaude.errors import CloudClaudeError, state, system
from web.api.common import plain_type, structure


@attrs.frozen(kw_only=True)
class Body:
    name: str
    count: int = 1
    expires_at: dt.datetime | None = None
    tags: list[str] = attrs.Factory(list)


def failure(data: dict[str, object]) -> str:
    with pytest.raises(CloudClaudeError) as caught:
        structure(data, Body)
    assert caught.value.error.slug == "validation_failed"
    return caught.value.detail or ""


@pytest.mark.parametrize("value", ["tomorrow", 5, [1], {"at": 1}, True])
def test_a_bad_expires_at_is_described_in_words_not_python_types(value: object) -> None:
    detail = failure({"name": "x", "expires_at": value})
    assert detail.startswith("expires_at must be an ISO 8601 date or time"), detail
    assert detail.endswith("or null"), detail
    for python in ("datetime", "NoneType", "None", "@ body", "typing", "|"):
        assert python not in detail, detail


def test_every_bad_field_is_named_at_once() -> None:
    detail = failure({"name": 5, "count": "two", "tags": ["a", 3]})
    assert detail.split("; ") == [
        "name must be a string",
        "count must be a whole number",
        "tags[1] must be a string",
    ]


def test_missing_and_unknown_fields_are_said_plainly() -> None:
    assert failure({}) == "name is required"
    unknown = failure({"name": "x", "colour": 1, "bogus": 2})
    assert unknown == "the body has unknown fields: bogus, colour"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (int, "a whole number"),
        (float, "a number"),
        (bool, "true or false"),
        (int | None, "a whole number or null"),
        (uuid.UUID, "an id (a UUID)"),
        (list[int], "a list, each a whole number"),
        (dict[str, int], "a JSON object"),
    ],
)
def test_types_have_plain_names(kind: object, words: str) -> None:
    assert plain_type(kind) == words


def test_query_errors_have_their_own_code_and_a_fix_about_the_query() -> None:
    error = CloudClaudeError("bad_query", "limit must be 1..200 and offset 0 or more")
    assert error.http_status == 400
    body = error.body()["error"]
    assert body["code"] == system.BAD_QUERY.code and body["slug"] == "bad_query"
    assert "query" in body["fix"] and "JSON" not in body["fix"] and "body" not in body["fix"]


def test_bad_request_no_longer_only_says_send_a_json_body() -> None:
    assert not system.BAD_REQUEST.fix.startswith("Send a JSON")


def test_an_admin_reads_the_admin_fix_and_a_user_the_users() -> None:
    as_user = CloudClaudeError("host_not_found", "no host 'x'")
    as_admin = CloudClaudeError("host_not_found", "no host 'x'", admin=True)
    assert "ask an admin" in as_user.body()["error"]["fix"].lower()
    assert as_admin.fix == state.HOST_NOT_FOUND.admin_fix
    assert "ask an admin" not in as_admin.body()["error"]["fix"].lower()
    assert as_admin.body()["error"]["code"] == as_user.body()["error"]["code"] == "STATE_005"


def test_a_row_without_an_admin_fix_tells_admins_the_same() -> None:
    assert not system.BAD_QUERY.admin_fix
    error = CloudClaudeError("bad_query", admin=True)
    assert error.fix == system.BAD_QUERY.fix


def test_an_unknown_host_looked_up_without_an_owner_is_an_admins_404() -> None:
    with pytest.raises(CloudClaudeError) as admin:
        visible(None, "abc")
    assert admin.value.admin and "ask an admin" not in admin.value.fix.lower()
    with pytest.raises(CloudClaudeError) as user:
        visible(None, "abc", owner=uuid.uuid4())
    assert not user.value.admin and user.value.fix == state.HOST_NOT_FOUND.fix
