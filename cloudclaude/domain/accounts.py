"""User accounts: create, change, log in, SSH keys (deleting: ``domain.user_deletion``).

The rules live here so the JSON API and the control socket behave the same. Every change
writes its audit event on the same connection, inside the same transaction, so a change and
its audit row commit or roll back together. Logging in opens a server-side session, and a
password change or reset, disabling, expiry or demotion ends every session of the user in the
same transaction (``cloudclaude.domain.sessions``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import asyncssh
import attrs
import trio

from cloudclaude.auth.passwords import PasswordHasher, check_policy, generate
from cloudclaude.auth.ratelimit import LoginWindows
from cloudclaude.auth.tokens import TokenService
from cloudclaude.core.printable import escape_controls
from cloudclaude.core.settings import AuthSettings, RateLimitSettings
from cloudclaude.core.timefmt import iso, utcnow
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit
from cloudclaude.domain.sessions import FULL, Sessions, end_all
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.sessions import Scope
from cloudclaude.model.users import ROLES, SshKey, User

USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
MAX_HOSTS_LIMIT = 100


@attrs.frozen(kw_only=True)
class LoginResult:
    user: User
    token: str
    expires_at: dt.datetime


def check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise CloudClaudeError(
            "validation_failed",
            "username: 1-32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter",
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise CloudClaudeError("validation_failed", f"role: must be one of {', '.join(ROLES)}")


def _check_max_hosts(max_hosts: int) -> None:
    if not 0 <= max_hosts <= MAX_HOSTS_LIMIT:
        raise CloudClaudeError("validation_failed", f"max_hosts: must be 0..{MAX_HOSTS_LIMIT}")


def parse_public_key(text: str) -> tuple[str, str, str]:
    """(normalised OpenSSH line, SHA256 fingerprint, comment) or ``ssh_key_invalid``."""
    line = text.strip()
    if "\n" in line or len(line) > 16_384:
        raise CloudClaudeError("ssh_key_invalid", "expected exactly one public key line")
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise CloudClaudeError("ssh_key_invalid", f"not an OpenSSH public key: {exc}") from exc
    comment = key.get_comment() or ""
    normalised = key.export_public_key("openssh").decode().strip()
    return normalised, key.get_fingerprint("sha256"), comment


class Accounts:
    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        tokens: TokenService,
        limits: RateLimitSettings,
        auth: AuthSettings | None = None,
    ) -> None:
        self._db = db
        self._hasher = hasher
        self.limits = LoginWindows(limits)
        self.sessions = Sessions(db, tokens, hasher, (auth or AuthSettings()).recent_auth_s)

    def configure_limits(self, limits: RateLimitSettings) -> None:
        self.limits.configure(limits)

    # --- login and tokens -----------------------------------------------------------------

    async def login(
        self, username: str, password: str, source_ip: str | None, scope: Scope = "full"
    ) -> LoginResult:
        """Check the password and open a session of ``scope`` (its token is in the result)."""
        address_key = source_ip or "unknown"
        # A name from an unauthenticated peer: stored escaped (Postgres text refuses NUL).
        actor = Actor(name=f"login:{escape_controls(username[:64])}", source_ip=source_ip)
        wait = self.limits.retry_after(address_key, username)
        if wait is not None:
            await self._login_failed(actor, username, None, "rate_limited", count=False)
            raise CloudClaudeError("rate_limited", retry_after=wait)
        self.limits.per_address.hit(address_key)
        await trio.sleep(self.limits.delay(username))  # slow-down, never a lock-out
        # No account can have a name the rules refuse: such a name is not looked up.
        valid = USERNAME_RE.match(username) is not None
        found = await users_repo.get_credentials(self._db, username) if valid else None
        if found is None:
            await self._hasher.verify_nobody(password)
            await self._login_failed(actor, username, None, "unknown_user", address_key)
            raise CloudClaudeError("auth_invalid")
        user, password_hash = found
        if not await self._hasher.verify(password_hash, password):
            await self._login_failed(actor, username, user.id, "wrong_password", address_key)
            raise CloudClaudeError("auth_invalid")
        status = user.effective_status(utcnow())
        if status != "active":
            await self._login_failed(actor, username, user.id, f"account_{status}", address_key)
            raise CloudClaudeError(f"account_{status}")
        changes: dict[str, Any] = {"last_login_at": utcnow()}
        if self._hasher.needs_rehash(password_hash):
            changes["password_hash"] = await self._hasher.hash(password)
        async with self._db.transaction() as conn:
            user = await users_repo.update(conn, user.id, **changes) or user
            opened = await self.sessions.open(conn, user, scope)
            await audit.record(
                conn, "auth.success", actor, user_id=user.id, method="password", scope=scope
            )
        self.limits.succeeded(address_key, username)
        return LoginResult(user=user, token=opened.token, expires_at=opened.expires_at)

    async def _login_failed(
        self,
        actor: Actor,
        username: str,
        user_id: uuid.UUID | None,
        reason: str,
        address: str = "unknown",
        *,
        count: bool = True,
    ) -> None:
        """Audit a failed login; ``count`` it towards the per-user limits (not when refused)."""
        if count:
            self.limits.failed_user(address, username)
        await audit.record(
            self._db,
            "auth.failed",
            actor,
            user_id=user_id,
            username=escape_controls(username[:64]),
            reason=reason,
            method="password",
        )

    async def authenticate(self, token: str, allowed: frozenset[Scope] = FULL) -> User:
        """The active user a token of a live session belongs to (see ``Sessions``)."""
        return (await self.sessions.authenticate(token, allowed)).user

    # --- reading --------------------------------------------------------------------------

    async def get(self, user_id: uuid.UUID) -> User:
        user = await users_repo.get(self._db, user_id)
        if user is None:
            raise CloudClaudeError("not_found", "no such user")
        return user

    async def get_by_username(self, username: str) -> User:
        user = await users_repo.get_by_username(self._db, username)
        if user is None:
            raise CloudClaudeError("not_found", f"no user named {username!r}")
        return user

    async def list_users(
        self,
        *,
        limit: int,
        offset: int,
        search: str | None = None,
        role: str | None = None,
        status: str | None = None,
    ) -> users_repo.UserPage:
        return await users_repo.list_page(
            self._db, limit=limit, offset=offset, search=search, role=role, status=status
        )

    async def count(self) -> int:
        return await users_repo.count(self._db)

    async def usernames(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """id → username for the users among ``user_ids`` that exist, in one query."""
        found = await users_repo.get_many(self._db, list(set(user_ids))) if user_ids else []
        return {user.id: user.username for user in found}

    async def count_admins(self) -> int:
        return await users_repo.count_admins(self._db)

    # --- changes --------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        *,
        username: str,
        role: str = "user",
        password: str | None = None,
        expires_at: dt.datetime | None = None,
        max_hosts: int = 1,
    ) -> tuple[User, str | None]:
        """The new user and the generated password (None when one was given)."""
        check_username(username)
        _check_role(role)
        _check_max_hosts(max_hosts)
        generated = None
        if password is None:
            password = generated = generate()
        check_policy(password)
        password_hash = await self._hasher.hash(password)
        try:
            async with self._db.transaction() as conn:
                user = await users_repo.insert(
                    conn,
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    expires_at=expires_at,
                    max_hosts=max_hosts,
                )
                meta = {"username": username, "role": role, "max_hosts": max_hosts}
                await audit.record(conn, "admin.user.created", actor, user_id=user.id, meta=meta)
        except UniqueViolation as exc:
            raise CloudClaudeError("username_taken", f"{username!r} is already taken") from exc
        return user, generated

    async def update(
        self,
        actor: Actor,
        user_id: uuid.UUID,
        *,
        role: str | None = None,
        max_hosts: int | None = None,
        status: str | None = None,
        expires_at: dt.datetime | None = None,
        set_expires_at: bool = False,
    ) -> User:
        """Change the given fields; ``set_expires_at`` distinguishes "clear expiry" from "keep"."""
        changes: dict[str, Any] = {}
        if role is not None:
            _check_role(role)
            changes["role"] = role
        if max_hosts is not None:
            _check_max_hosts(max_hosts)
            changes["max_hosts"] = max_hosts
        if status is not None:
            if status not in ("active", "disabled"):
                raise CloudClaudeError("validation_failed", "status: must be active or disabled")
            changes["status"] = status
        if set_expires_at:
            changes["expires_at"] = expires_at
        async with self._db.transaction() as conn:
            before = await users_repo.get(conn, user_id, for_update=True)
            if before is None:
                raise CloudClaudeError("not_found", "no such user")
            revives = set_expires_at and (expires_at is None or expires_at > utcnow())
            if revives and before.status == "expired" and "status" not in changes:
                changes["status"] = "active"  # a new expiry in the future revives the account
            after = attrs.evolve(before, **changes)
            if status == "active" and after.effective_status(utcnow()) == "expired":
                raise CloudClaudeError(
                    "conflict", "the account's expiry has passed; set a new expiry to enable it"
                )
            await guard_last_admin(conn, before, after)
            changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
            if not changed:
                return before
            user = await users_repo.update(conn, user_id, **changed)
            assert user is not None
            meta = {k: _jsonable(v) for k, v in changed.items()}
            meta["username"] = user.username
            if _ends_sessions(before, user):
                await end_all(conn, user_id)
                meta["sessions_ended"] = True
            await audit.record(conn, "admin.user.updated", actor, user_id=user_id, meta=meta)
        return user

    async def set_password(
        self, actor: Actor, user_id: uuid.UUID, password: str | None = None
    ) -> str | None:
        """Set (or generate, when None) a user's password; returns the generated one."""
        generated = None
        if password is None:
            password = generated = generate()
        check_policy(password)
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as conn:
            user = await users_repo.update(conn, user_id, password_hash=password_hash)
            if user is None:
                raise CloudClaudeError("not_found", "no such user")
            await end_all(conn, user_id)
            meta = {"username": user.username, "generated": generated is not None}
            await audit.record(
                conn, "admin.user.password_rotated", actor, user_id=user_id, meta=meta
            )
        return generated

    async def change_own_password(
        self, actor: Actor, user: User, current: str, new: str, keep: uuid.UUID | None = None
    ) -> None:
        """Every session of the user ends but ``keep``, the one the change was made from."""
        check_policy(new)
        password_hash = await users_repo.get_password_hash(self._db, user.id)
        if password_hash is None or not await self._hasher.verify(password_hash, current):
            raise CloudClaudeError("current_password_wrong")
        new_hash = await self._hasher.hash(new)
        async with self._db.transaction() as conn:
            await users_repo.update(conn, user.id, password_hash=new_hash)
            await end_all(conn, user.id, keep)
            await audit.record(conn, "user.password_changed", actor, user_id=user.id)

    # --- ssh keys -------------------------------------------------------------------------

    async def add_key(
        self, actor: Actor, user_id: uuid.UUID, public_key: str, name: str | None = None
    ) -> SshKey:
        line, fingerprint, comment = parse_public_key(public_key)
        label = (name if name is not None else comment)[:100]
        try:
            async with self._db.transaction() as conn:
                if await users_repo.get(conn, user_id) is None:
                    raise CloudClaudeError("not_found", "no such user")
                key = await users_repo.insert_key(
                    conn, user_id=user_id, name=label, public_key=line, fingerprint=fingerprint
                )
                meta = {"fingerprint": fingerprint, "name": label}
                await audit.record(conn, "user.ssh_key.added", actor, user_id=user_id, meta=meta)
        except UniqueViolation as exc:
            raise CloudClaudeError("ssh_key_duplicate") from exc
        return key

    async def list_keys(self, user_id: uuid.UUID) -> list[SshKey]:
        return await users_repo.list_keys(self._db, user_id)

    async def delete_key(self, actor: Actor, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
        async with self._db.transaction() as conn:
            key = await users_repo.delete_key(conn, user_id, key_id)
            if key is None:
                raise CloudClaudeError("not_found", "no such SSH key")
            meta = {"fingerprint": key.fingerprint, "name": key.name}
            await audit.record(conn, "user.ssh_key.deleted", actor, user_id=user_id, meta=meta)

    # --- expiry ---------------------------------------------------------------------------

    async def expire_due(self, actor: Actor) -> list[User]:
        """Record ``expired`` for users whose expiry passed, with a ``user.expired`` event each."""
        async with self._db.transaction() as conn:
            expired = await users_repo.mark_expired(conn)
            for user in expired:
                await end_all(conn, user.id)
                meta = {"username": user.username, "expires_at": iso(user.expires_at)}
                await audit.record(conn, "user.expired", actor, user_id=user.id, meta=meta)
        return expired


async def guard_last_admin(conn: Connection, before: User, after: User) -> None:
    """``last_admin`` when the change from ``before`` to ``after`` leaves no active admin."""
    was_admin = before.role == "admin" and before.effective_status(utcnow()) == "active"
    still_admin = after.role == "admin" and after.effective_status(utcnow()) == "active"
    if (
        was_admin
        and not still_admin
        and not await users_repo.count_active_admins(conn, excluding=before.id)
    ):
        raise CloudClaudeError("last_admin")


def _ends_sessions(before: User, after: User) -> bool:
    """Disabling, expiring or demoting ends every session of the user."""
    now = utcnow()
    lost_access = before.effective_status(now) == "active" != after.effective_status(now)
    return lost_access or (before.role == "admin" and after.role != "admin")


def _jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, dt.datetime) else value
