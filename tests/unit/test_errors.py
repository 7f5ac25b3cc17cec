"""The error-code registry and ``CloudClaudeError`` (cloudclaude/errors, DESIGN.md section 9)."""

from __future__ import annotations

import re
from types import ModuleType

import attrs
import pytest

from cloudclaude.errors import (
    REGISTRY,
    CloudClaudeError,
    ErrorCode,
    auth,
    by_code,
    by_slug,
    codes,
    disk,
    mount,
    net,
    ssh,
    state,
    system,
)

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


@pytest.mark.parametrize("module", codes.DOMAIN_MODULES, ids=lambda m: m.__name__)
def test_domain_module_constants_are_the_registry_entries_of_its_domain(
    module: ModuleType,
) -> None:
    domain = module.__name__.rsplit(".", 1)[1].upper()
    assert domain in codes.DOMAINS
    constants = {name: value for name, value in vars(module).items() if name.isupper()}
    entries = codes.entries_of(module)
    assert entries
    assert list(constants.values()) == list(entries)
    for name, entry in constants.items():
        assert isinstance(entry, ErrorCode)
        assert entry.code.startswith(f"{domain}_"), name
        assert name == entry.slug.upper()
        assert by_code(entry.code) is entry
        assert by_slug(entry.slug) is entry


def test_registry_is_the_domain_modules_constants() -> None:
    assert set(codes.DOMAIN_MODULES) == {auth, disk, mount, net, ssh, state, system}
    from_modules = [entry for module in codes.DOMAIN_MODULES for entry in codes.entries_of(module)]
    assert list(REGISTRY) == from_modules


def test_error_accepts_a_constant_like_its_slug() -> None:
    by_constant = CloudClaudeError(state.CONTAINER_MISSING, "gone", host="h1")
    by_name = CloudClaudeError("container_missing", "gone", host="h1")
    assert by_constant.error is by_name.error is state.CONTAINER_MISSING
    assert by_constant.body() == by_name.body()
    assert str(by_constant) == "STATE_008 container_missing: gone"


def test_error_refuses_a_code_outside_the_registry() -> None:
    forged = attrs.evolve(state.CONTAINER_MISSING, message="Something else.")
    with pytest.raises(KeyError):
        CloudClaudeError(forged)
