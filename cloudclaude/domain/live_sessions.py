"""Live SSH sessions and web terminals, and when they must end (issue 15).

A session remembers, when it is authenticated, its user's id, ``session_epoch`` and role, and
whether it needs the admin role (an admin's web terminal on another user's box). ``LiveSessions``
holds the open ones. The revocation watcher (``cloudclaude.background.revocation``) calls
``due`` once per ``ssh.revocation_check_s``: one query for every user with a live session, and
each session that no longer holds is ended with a reason:

- ``account_deleted``: the user row is gone;
- ``account_disabled`` / ``account_expired``: the user is not active any more (``expires_at``
  passed counts before the expiry scanner records it);
- ``admin_role_removed``: the session needed the admin role, or was an admin's, and the user is
  no admin any more;
- ``sessions_ended``: the user's ``session_epoch`` went up (password changed or reset, every
  session ended by an admin);
- ``signed_out``: a web terminal's sign-in session (the page cookie it was opened with) was
  signed out or expired.

Ending a session calls its ``end`` callback once (the SSH proxy disconnects, the web terminal
closes its WebSocket); the session's own close path audits it with the reason (``ended``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import attrs

from cloudclaude.db.repos import Executor, auth_sessions
from cloudclaude.db.repos import users as users_repo
from cloudclaude.model.users import Role, User

#: What a client is told, after "your session was ended: ".
REASON_TEXTS = {
    "account_deleted": "the account was deleted",
    "account_disabled": "the account was disabled",
    "account_expired": "the account has expired",
    "admin_role_removed": "the admin role was removed",
    "sessions_ended": "the password was changed or reset, or every session was ended",
    "signed_out": "you signed out",
}


def ending_text(reason: str) -> str:
    return f"your session was ended: {REASON_TEXTS.get(reason, reason)}"


@attrs.define(eq=False, kw_only=True)
class LiveSession:
    """One open SSH connection or web terminal, as it was when authenticated."""

    user_id: uuid.UUID
    epoch: int
    role: Role
    #: ``ssh`` or ``terminal``.
    channel: str
    #: Only an admin may keep it (an admin's terminal on another user's box).
    needs_admin: bool = False
    #: The sign-in session it was opened from (a web terminal's cookie), if any.
    auth_session: uuid.UUID | None = None
    #: Called once, from trio, with the reason; must not block.
    on_end: Callable[[str], None]
    #: The reason once ended (None while it holds).
    ended: str | None = None

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.on_end(reason)


def ended_why(session: LiveSession, user: User | None, now: dt.datetime) -> str | None:
    """Why ``session`` must end given its user's row now (None: it holds)."""
    if user is None:
        return "account_deleted"
    status = user.effective_status(now)
    if status != "active":
        return f"account_{status}"
    demoted = session.role == "admin" and user.role != "admin"
    if session.needs_admin and user.role != "admin":
        return "admin_role_removed"
    if user.session_epoch != session.epoch:
        return "admin_role_removed" if demoted else "sessions_ended"
    return None


class LiveSessions:
    """The open sessions of the daemon (SSH proxy and web terminals), in one trio thread."""

    def __init__(self) -> None:
        self._open: set[LiveSession] = set()

    def open(
        self,
        user: User,
        channel: str,
        on_end: Callable[[str], None],
        *,
        needs_admin: bool = False,
        auth_session: uuid.UUID | None = None,
    ) -> LiveSession:
        session = LiveSession(
            user_id=user.id,
            epoch=user.session_epoch,
            role=user.role,
            channel=channel,
            needs_admin=needs_admin,
            auth_session=auth_session,
            on_end=on_end,
        )
        self._open.add(session)
        return session

    def close(self, session: LiveSession) -> None:
        self._open.discard(session)

    def end(self, session: LiveSession, reason: str) -> bool:
        """End ``session`` if it is still open; whether it was."""
        if session not in self._open or session.ended is not None:
            return False
        session.end(reason)
        return True

    def __len__(self) -> int:
        return len(self._open)

    def snapshot(self) -> list[LiveSession]:
        return [s for s in self._open if s.ended is None]

    async def due(self, db: Executor, now: dt.datetime) -> list[tuple[LiveSession, str]]:
        """The sessions that must end, with why: one query for all their users."""
        live = self.snapshot()
        if not live:
            return []
        # Sign-ins first, users second: a change to a user ends their sign-ins in the same
        # transaction, so sign-ins seen gone mean the user row read after is the new one too
        # (the other order could see the sign-in gone but the old, active user: "signed out"
        # instead of, say, "the account has expired").
        sids = list({s.auth_session for s in live if s.auth_session is not None})
        signed_in = await auth_sessions.existing(db, sids) if sids else set()
        users = {u.id: u for u in await users_repo.get_many(db, list({s.user_id for s in live}))}
        due = []
        for session in live:
            reason = ended_why(session, users.get(session.user_id), now)
            if reason is None and session.auth_session not in (None, *signed_in):
                reason = "signed_out"
            if reason is not None:
                due.append((session, reason))
        return due
