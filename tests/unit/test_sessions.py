"""Session rules (cloudclaude/domain/sessions.py): scopes, the recent-auth window, and which
sessions still authenticate."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from cloudclaude.domain.sessions import (
    BOOTSTRAP_STEPS,
    FULL,
    check_scope,
    check_session,
    is_recent,
)
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.sessions import AuthSession
from cloudclaude.model.users import User
from tests.fakes.records import make_user

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
USER_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def user(**changes: Any) -> User:
    return make_user(NOW, **{"id": USER_ID, "session_epoch": 3, **changes})


def session(**changes: Any) -> AuthSession:
    base = AuthSession(
        id=uuid.uuid4(),
        user_id=USER_ID,
        epoch=3,
        scope="full",
        authenticated_at=NOW,
        created_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )
    return attrs.evolve(base, **changes)


def slug_of(fn: Callable[..., None], *args: Any) -> str:
    with pytest.raises(CloudClaudeError) as info:
        fn(*args)
    return info.value.error.slug


def test_full_sessions_may_use_every_route() -> None:
    check_scope("full", FULL)
    check_scope("full", BOOTSTRAP_STEPS)


def test_bootstrap_sessions_may_only_do_the_bootstrap_steps() -> None:
    check_scope("bootstrap", BOOTSTRAP_STEPS)
    assert slug_of(check_scope, "bootstrap", FULL) == "token_scope_denied"


def test_an_unknown_scope_is_refused_everywhere() -> None:
    assert slug_of(check_scope, "admin", FULL) == "token_scope_denied"
    assert slug_of(check_scope, "", BOOTSTRAP_STEPS) == "token_scope_denied"


@pytest.mark.parametrize(
    ("age_s", "recent"),
    [(0, True), (-5, True), (299, True), (300, True), (301, False), (86_400, False)],
)
def test_recent_auth_window(age_s: int, recent: bool) -> None:
    signed_in_at = NOW - dt.timedelta(seconds=age_s)
    assert is_recent(signed_in_at, NOW, 300) is recent


def test_a_live_session_of_the_current_epoch_passes() -> None:
    check_session(session(), user(), USER_ID, NOW)


def test_a_session_of_an_older_epoch_has_ended() -> None:
    assert slug_of(check_session, session(epoch=2), user(), USER_ID, NOW) == "session_ended"


def test_an_expired_session_has_ended() -> None:
    old = session(expires_at=NOW)
    assert slug_of(check_session, old, user(), USER_ID, NOW) == "session_ended"


@pytest.mark.parametrize(
    "changes",
    [{"status": "disabled"}, {"status": "expired"}, {"expires_at": NOW - dt.timedelta(seconds=1)}],
)
def test_a_session_of_an_account_that_is_not_active_has_ended(changes: dict[str, Any]) -> None:
    assert slug_of(check_session, session(), user(**changes), USER_ID, NOW) == "session_ended"


def test_a_token_naming_someone_elses_session_is_invalid() -> None:
    other = uuid.uuid4()
    assert slug_of(check_session, session(), user(), other, NOW) == "token_invalid"
