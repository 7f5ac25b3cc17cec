"""The error-code registry and ``CloudClaudeError`` (cloudclaude/errors, DESIGN.md section 9)."""

from __future__ import annotations

import re

import pytest

from cloudclaude.errors import REGISTRY, CloudClaudeError, ErrorCode, by_code, by_slug

CODE_RE = re.compile(r"^(AUTH|SSH|NET|SESSION|MOUNT|DISK|STATE|SYSTEM)_\d{3}$")

BOOTSTRAP_EXIT_CODES = {
    "auth_invalid": 10,
    "account_disabled": 11,
    "account_expired": 12,
    "host_not_found": 13,
    "start_failed": 14,
    "ssh_not_ready": 15,
    "egress_binding_missing": 16,
}


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.code)
def test_code_has_domain_and_three_digits(entry: ErrorCode) -> None:
    assert CODE_RE.match(entry.code)


def test_codes_are_unique() -> None:
    codes = [e.code for e in REGISTRY]
    assert len(codes) == len(set(codes))


def test_slugs_are_unique_snake_case() -> None:
    slugs = [e.slug for e in REGISTRY]
    assert len(slugs) == len(set(slugs))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", s) for s in slugs)


def test_every_entry_has_texts_and_an_error_status() -> None:
    for entry in REGISTRY:
        assert entry.message and entry.cause and entry.fix, entry.code
        assert 400 <= entry.http_status <= 599, entry.code


@pytest.mark.parametrize(("slug", "exit_code"), sorted(BOOTSTRAP_EXIT_CODES.items()))
def test_bootstrap_exit_codes(slug: str, exit_code: int) -> None:
    assert by_slug(slug).exit_code == exit_code


def test_other_codes_exit_with_one() -> None:
    others = [e for e in REGISTRY if e.slug not in BOOTSTRAP_EXIT_CODES]
    assert others
    assert {e.exit_code for e in others} == {1}


def test_by_code_finds_entry_and_misses_unknown() -> None:
    assert by_code("AUTH_001") is by_slug("auth_invalid")
    assert by_code("AUTH_999") is None


def test_unknown_slug_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        CloudClaudeError("no_such_slug")


def test_body_shape_uses_registry_message_by_default() -> None:
    error = by_slug("rate_limited")
    assert CloudClaudeError("rate_limited").body() == {
        "error": {
            "code": error.code,
            "slug": "rate_limited",
            "message": error.message,
            "cause": error.cause,
            "fix": error.fix,
        }
    }


def test_body_message_is_detail_when_given() -> None:
    body = CloudClaudeError("not_found", "no user 'bob'").body()
    assert body["error"]["message"] == "no user 'bob'"
    assert body["error"]["code"] == "STATE_001"


def test_extra_fields_join_the_body() -> None:
    body = CloudClaudeError("rate_limited", retry_after=30).body()
    assert body["error"]["retry_after"] == 30


def test_http_status_and_str_come_from_registry() -> None:
    exc = CloudClaudeError("token_invalid", "expired")
    assert exc.http_status == 401
    assert str(exc) == "AUTH_005 token_invalid: expired"
