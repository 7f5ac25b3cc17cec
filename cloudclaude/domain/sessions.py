"""Server-side sign-in sessions: how a token ends when it should.

Design: every token the daemon issues (API login, the pages' cookie, the bootstrap flow) names
a row of ``auth_sessions`` in its ``sid`` claim, and each request checks that row and its user
in one query (a join). A token is refused (``session_ended``, 401) when:

- its row is gone: signed out (``POST /v1/auth/logout``, the pages' ``/logout``), or ended;
- its row has expired (the scanner deletes such rows);
- its row's ``epoch`` is older than the user's ``session_epoch``: that number goes up, in the
  same transaction as the change, whenever every session of the user must end (password
  changed or reset, account disabled or expired, admin demoted), and the rows are deleted
  then too. Long-lived things that hold no row (SSH sessions, web terminals) watch the epoch;
  SSE streams re-check their row on each poll (``alive``);
- the user is not active any more (disabled, or past ``expires_at`` before the scanner ran).

A user changing their own password keeps the session they did it from: that row moves to the
new epoch (so the same token goes on working) while every other session ends.

Scopes: ``full`` for sign-ins, ``bootstrap`` for the token ``POST /v1/bootstrap/sessions``
hands the connect script; routes say which scopes they accept (``FULL`` unless they are
bootstrap steps), anything else is ``token_scope_denied`` (403).

Recent auth: adding an SSH key, resetting a password or rotating a host's SSH password needs
the current password with the request, or a session whose password was given within
``auth.recent_auth_s`` (``recent_auth_required``, 403, otherwise). Giving the password
restarts the window.
"""

from __future__ import annotations

import datetime as dt
import uuid

import attrs

from cloudclaude.auth.passwords import PasswordHasher
from cloudclaude.auth.tokens import TokenService
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import auth_sessions
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.sessions import AuthSession, Scope
from cloudclaude.model.users import User

#: What ordinary routes and the pages accept.
FULL: frozenset[Scope] = frozenset({"full"})
#: What the bootstrap steps (task poll, handoff) and sign-out accept.
BOOTSTRAP_STEPS: frozenset[Scope] = frozenset({"full", "bootstrap"})


@attrs.frozen(kw_only=True)
class SignedIn:
    """A request's authenticated user and the session its token names."""

    user: User
    session: AuthSession


@attrs.frozen(kw_only=True)
class Opened:
    token: str
    expires_at: dt.datetime
    session: AuthSession


def check_scope(scope: str, allowed: frozenset[Scope]) -> None:
    """``token_scope_denied`` unless a session of ``scope`` may use a route accepting
    ``allowed``."""
    if scope not in allowed:
        raise CloudClaudeError("token_scope_denied")


def is_recent(authenticated_at: dt.datetime, now: dt.datetime, window_s: float) -> bool:
    """Whether a password given at ``authenticated_at`` is still within the window at ``now``."""
    return now - authenticated_at <= dt.timedelta(seconds=window_s)


def check_session(
    session: AuthSession, user: User, claimed_user: uuid.UUID, now: dt.datetime
) -> None:
    """Refuse a session that no longer authenticates (see the module docstring)."""
    if session.user_id != claimed_user:
        raise CloudClaudeError("token_invalid", "the token does not match its session")
    if session.expires_at <= now:
        raise CloudClaudeError("session_ended", "the session has expired")
    if session.epoch != user.session_epoch:
        raise CloudClaudeError("session_ended", "every session of this account was ended")
    status = user.effective_status(now)
    if status != "active":
        raise CloudClaudeError("session_ended", f"the account is {status}")


class Sessions:
    def __init__(
        self, db: Database, tokens: TokenService, hasher: PasswordHasher, recent_auth_s: float
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._hasher = hasher
        self.recent_auth_s = recent_auth_s

    async def open(self, conn: Connection, user: User, scope: Scope = "full") -> Opened:
        """A new session of ``user`` (in the caller's transaction) and its signed token."""
        expires_at = utcnow() + dt.timedelta(seconds=self._tokens.ring.ttl_s)
        session = await auth_sessions.insert(
            conn, user_id=user.id, epoch=user.session_epoch, scope=scope, expires_at=expires_at
        )
        token, token_expires = self._tokens.ring.issue(
            user.id, user.role, session_id=session.id, scope=scope
        )
        return Opened(token=token, expires_at=token_expires, session=session)

    async def authenticate(self, token: str, allowed: frozenset[Scope] = FULL) -> SignedIn:
        """The user and session of a token: one query to Postgres (session joined to user)."""
        claims = await self._tokens.verify(token)
        found = await auth_sessions.get_with_user(self._db, claims.session_id)
        if found is None:
            raise CloudClaudeError("session_ended", "the session was signed out or ended")
        session, user = found
        check_session(session, user, claims.user_id, utcnow())
        check_scope(session.scope, allowed)
        return SignedIn(user=user, session=session)

    async def alive(self, session_id: uuid.UUID) -> bool:
        """Whether the session still authenticates (one cheap query; for open streams)."""
        return await auth_sessions.alive(self._db, session_id)

    async def close(self, actor: Actor, signed_in: SignedIn) -> None:
        """Sign out: the session's row goes, and with it every token naming it."""
        async with self._db.transaction() as conn:
            await auth_sessions.delete(conn, signed_in.session.id)
            await audit.record(
                conn,
                "auth.logout",
                actor,
                user_id=signed_in.user.id,
                session_id=str(signed_in.session.id),
            )

    async def confirm_recent(self, actor: Actor, signed_in: SignedIn, password: str | None) -> None:
        """Allow a sensitive change: the current ``password`` is right (the window restarts),
        or, with none given, the session's password was given recently enough. A wrong
        password is audited like a failed sign-in."""
        if password:
            stored = await users_repo.get_password_hash(self._db, signed_in.user.id)
            if stored is None or not await self._hasher.verify(stored, password):
                await audit.record(
                    self._db,
                    "auth.failed",
                    actor,
                    user_id=signed_in.user.id,
                    username=signed_in.user.username,
                    reason="wrong_current_password",
                    method="recent_auth",
                )
                raise CloudClaudeError("current_password_wrong")
            await auth_sessions.mark_authenticated(self._db, signed_in.session.id)
            return
        if not is_recent(signed_in.session.authenticated_at, utcnow(), self.recent_auth_s):
            raise CloudClaudeError(
                "recent_auth_required",
                "give your current password: the last sign-in of this session is"
                f" more than {round(self.recent_auth_s)} s ago",
            )

    async def end_every(self, actor: Actor, user: User) -> None:
        """End every session of ``user`` (an operator's sign-out of a user everywhere)."""
        async with self._db.transaction() as conn:
            await end_all(conn, user.id)
            meta = {"username": user.username}
            await audit.record(conn, "admin.user.signed_out", actor, user_id=user.id, meta=meta)

    async def delete_expired(self) -> int:
        return await auth_sessions.delete_expired(self._db)


async def end_all(conn: Connection, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> None:
    """End every session of the user (but ``keep``) in the caller's transaction."""
    await auth_sessions.end_all(conn, user_id, keep=keep)
