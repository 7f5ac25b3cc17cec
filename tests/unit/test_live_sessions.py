"""When a live SSH session or web terminal must end (``cloudclaude.domain.live_sessions``), and
the tmux notice an admin's attach shows."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

import attrs

from cloudclaude.domain.live_sessions import LiveSessions, ended_why, ending_text
from cloudclaude.model.users import User
from cloudclaude.sshproxy.notice import notice_command
from tests.fakes.records import make_user

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def user(**changes: Any) -> User:
    return make_user(NOW, **{"session_epoch": 3, **changes})


def test_a_session_holds_while_its_user_is_unchanged() -> None:
    alice = user()
    session = LiveSessions().open(alice, "ssh", lambda _: None)
    assert ended_why(session, alice, NOW) is None
    # Other changes (a later login, a new key) do not end it.
    assert ended_why(session, attrs.evolve(alice, last_login_at=NOW), NOW) is None


def test_why_a_session_ends() -> None:
    alice = user()
    session = LiveSessions().open(alice, "ssh", lambda _: None)
    assert ended_why(session, None, NOW) == "account_deleted"
    assert ended_why(session, attrs.evolve(alice, status="disabled"), NOW) == "account_disabled"
    assert ended_why(session, attrs.evolve(alice, status="expired"), NOW) == "account_expired"
    past = attrs.evolve(alice, expires_at=NOW - dt.timedelta(seconds=1))
    assert ended_why(session, past, NOW) == "account_expired"  # before the scanner records it
    bumped = attrs.evolve(alice, session_epoch=4)
    assert ended_why(session, bumped, NOW) == "sessions_ended"


def test_an_admins_session_on_another_users_box_needs_the_role() -> None:
    admin = user(role="admin")
    sessions = LiveSessions()
    elsewhere = sessions.open(admin, "terminal", lambda _: None, needs_admin=True)
    own = sessions.open(admin, "terminal", lambda _: None)
    demoted = attrs.evolve(admin, role="user")  # even if the epoch had not moved
    assert ended_why(elsewhere, demoted, NOW) == "admin_role_removed"
    assert ended_why(own, demoted, NOW) is None
    both = attrs.evolve(demoted, session_epoch=admin.session_epoch + 1)
    assert ended_why(own, both, NOW) == "admin_role_removed"


def test_ending_calls_back_once_and_only_while_open() -> None:
    alice = user()
    sessions = LiveSessions()
    calls: list[str] = []
    session = sessions.open(alice, "ssh", calls.append)
    assert len(sessions) == 1 and sessions.snapshot() == [session]
    assert sessions.end(session, "account_disabled")
    assert not sessions.end(session, "sessions_ended")
    assert calls == ["account_disabled"]
    assert session.ended == "account_disabled"
    assert sessions.snapshot() == []  # not checked again
    sessions.close(session)
    assert len(sessions) == 0
    gone = sessions.open(alice, "ssh", calls.append)
    sessions.close(gone)
    assert not sessions.end(gone, "account_disabled")
    assert calls == ["account_disabled"]


def test_ending_text_names_the_reason() -> None:
    assert ending_text("account_disabled") == "your session was ended: the account was disabled"
    assert "password" in ending_text("sessions_ended")


def test_the_tmux_notice_is_one_quoted_argument_without_formats() -> None:
    command = notice_command("admin root-admin attached #{pane_id} '$(reboot)'")
    words = shlex.split(command)
    assert "admin root-admin attached ##{pane_id} '$(reboot)'" in words
