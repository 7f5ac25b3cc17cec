"""Claude Code's API keys: stored sealed, assigned to users or made the team default, and
resolved per request for the credentials endpoint (``cloudclaude.llmgate``).

A key is sealed with the server key (purpose ``llm-credential``, bound to its row) and leaves
the daemon only in the ``ResolvedKey`` the forwarder puts into a request upstream; every answer
carries its mask (``sk-ant-…abcd``, the last four characters). Admins' keys are assigned to
users (one key per user) or made the team default (at most one). With
``credentials.user_keys`` on, a user stores keys of their own (named ``username/name``), which
win over the admin's. Every change writes its audit event (never the key) in the same
transaction.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from cloudclaude.auth.sealing import SealError, seal, unseal
from cloudclaude.core.settings import LiveSettings
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Connection, Database
from cloudclaude.db.repos import credentials as repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit, resealing
from cloudclaude.errors import CloudClaudeError, auth, state
from cloudclaude.model.audit import Actor
from cloudclaude.model.credentials import Credential, ResolvedKey
from cloudclaude.model.users import User

PURPOSE = resealing.LLM_CREDENTIAL
KEY_MIN, KEY_MAX = 20, 512
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,47}")
_OWN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}")


def check_key(key: str) -> str:
    """``key`` if it is 20 to 512 printable ASCII characters without whitespace (the error never
    quotes it)."""
    if not KEY_MIN <= len(key) <= KEY_MAX or not all("!" <= ch <= "~" for ch in key):
        raise CloudClaudeError(
            auth.API_KEY_INVALID,
            f"an API key is {KEY_MIN} to {KEY_MAX} printable ASCII characters without spaces;"
            f" this one has {len(key)} characters",
        )
    return key


def check_name(name: str, *, own: bool = False) -> str:
    pattern = _OWN_NAME if own else _NAME
    if not pattern.fullmatch(name):
        most = 31 if own else 48
        raise CloudClaudeError(
            "validation_failed",
            f"name must be 1 to {most} letters, digits, '.', '_' or '-', starting with a letter"
            " or digit",
        )
    return name


def hint_of(key: str) -> str:
    return key[-4:]


class Credentials:
    def __init__(self, db: Database, server_key: bytes, live: LiveSettings) -> None:
        self._db = db
        self._server_key = server_key
        self._live = live

    @property
    def user_keys(self) -> bool:
        return self._live.current.credentials.user_keys

    # --- what the forwarder asks ----------------------------------------------------------

    async def key_for(self, user_id: uuid.UUID) -> ResolvedKey | None:
        """The key a user's box requests go out with: the user's own key (if
        credentials.user_keys is on), else the admin key assigned to them, else the team
        default, else None. One query, no cache (a rotation takes effect on the next request).
        """
        found = await repo.resolve_for_user(self._db, user_id, self.user_keys)
        if found is None:
            return None
        plain = self._open(found.credential_id, found.name, found.key_enc)
        return ResolvedKey(
            credential_id=found.credential_id, name=found.name, kind=found.kind, secret=plain
        )

    async def owner_of_host(self, host_id: uuid.UUID) -> uuid.UUID | None:
        """The host's user id (None: no such host, or it is deleted)."""
        return await repo.owner_of_host(self._db, host_id)

    async def in_effect(self, user_id: uuid.UUID) -> Credential | None:
        """The key ``key_for`` would use, masked (for the user's page); never unsealed."""
        found = await repo.resolve_for_user(self._db, user_id, self.user_keys)
        return None if found is None else await repo.get(self._db, found.credential_id)

    # --- reading --------------------------------------------------------------------------

    async def list_keys(self, *, owner: uuid.UUID | None = None) -> list[Credential]:
        """Every key (admins' first), or only ``owner``'s own keys."""
        return await repo.list_all(self._db, owner_user_id=owner)

    async def get(self, credential_id: uuid.UUID, *, owner: uuid.UUID | None = None) -> Credential:
        """One key; with ``owner``, only one of that user's own keys (another's is a 404)."""
        found = await repo.get(self._db, credential_id)
        if found is None or (owner is not None and found.owner_user_id != owner):
            raise CloudClaudeError(state.CREDENTIAL_NOT_FOUND, f"no API key {credential_id}")
        return found

    async def resolve(self, ref: str) -> Credential:
        """A key by id or name (for the control socket and humans)."""
        try:
            return await self.get(uuid.UUID(ref))
        except ValueError:
            pass
        found = await repo.get_by_name(self._db, ref)
        if found is None:
            raise CloudClaudeError(state.CREDENTIAL_NOT_FOUND, f"no API key named {ref[:64]!r}")
        return found

    # --- admins' keys ---------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        name: str,
        key: str,
        *,
        default: bool = False,
        assign: list[str] | None = None,
    ) -> Credential:
        """A new admin key, optionally the team default and assigned to ``assign`` (names)."""
        check_name(name)
        check_key(key)
        async with self._db.transaction() as conn:
            created = await self._insert(conn, actor, name, key, owner=None)
            if default or assign:
                return await self._assign(conn, actor, created, assign, default or None)
        return created

    async def rotate(
        self, actor: Actor, credential_id: uuid.UUID, key: str, *, owner: uuid.UUID | None = None
    ) -> Credential:
        """Replace the key (same name, assignment and default); the next request uses it."""
        check_key(key)
        if owner is not None:
            self.check_user_keys()
        async with self._db.transaction() as conn:
            found = await self._locked(conn, credential_id, owner)
            await repo.rotate(conn, found.id, self._seal(found.id, key), hint_of(key))
            after = await repo.get(conn, found.id)
            assert after is not None
            await self._audit(conn, "credential.rotated", actor, after)
        return after

    async def assign(
        self,
        actor: Actor,
        credential_id: uuid.UUID,
        usernames: list[str] | None,
        default: bool | None,
    ) -> Credential:
        """Make ``usernames`` the key's users (None: leave them) and set or clear the team
        default (None: leave it). A user assigned here leaves any other key."""
        async with self._db.transaction() as conn:
            found = await self._locked(conn, credential_id, None)
            if found.owner_user_id is not None:
                raise CloudClaudeError(
                    "validation_failed",
                    f"{found.name} is a user's own key; only admins' keys are assigned",
                )
            return await self._assign(conn, actor, found, usernames, default)

    async def delete(
        self, actor: Actor, credential_id: uuid.UUID, *, owner: uuid.UUID | None = None
    ) -> Credential:
        """Delete a key; its users fall back to the next key in line (or none)."""
        async with self._db.transaction() as conn:
            found = await self._locked(conn, credential_id, owner)
            await repo.delete(conn, found.id)
            await self._audit(conn, "credential.deleted", actor, found)
        return found

    # --- users' own keys ------------------------------------------------------------------

    async def create_own(self, actor: Actor, user: User, name: str, key: str) -> Credential:
        """A key of the user's own, named ``username/name`` (needs credentials.user_keys)."""
        self.check_user_keys()
        check_name(name, own=True)
        check_key(key)
        async with self._db.transaction() as conn:
            return await self._insert(conn, actor, f"{user.username}/{name}", key, owner=user.id)

    def check_user_keys(self) -> None:
        if not self.user_keys:
            raise CloudClaudeError(auth.USER_KEYS_OFF)

    # --- inside ---------------------------------------------------------------------------

    async def _insert(
        self, conn: Connection, actor: Actor, name: str, key: str, *, owner: uuid.UUID | None
    ) -> Credential:
        new_id = uuid.uuid4()  # known before the insert: the sealed key binds it
        try:
            async with conn.savepoint():
                await repo.insert(
                    conn,
                    credential_id=new_id,
                    name=name,
                    key_enc=self._seal(new_id, key),
                    key_hint=hint_of(key),
                    owner_user_id=owner,
                    created_by=actor.name,
                )
        except UniqueViolation as exc:
            raise CloudClaudeError(
                state.CREDENTIAL_NAME_TAKEN, f"an API key named {name!r} already exists"
            ) from exc
        created = await repo.get(conn, new_id)
        assert created is not None
        await self._audit(conn, "credential.created", actor, created)
        return created

    async def _assign(
        self,
        conn: Connection,
        actor: Actor,
        found: Credential,
        usernames: list[str] | None,
        default: bool | None,
    ) -> Credential:
        meta: dict[str, Any] = {}
        if usernames is not None:
            users = []
            for username in sorted(set(usernames)):
                user = await users_repo.get_by_username(conn, username)
                if user is None:
                    raise CloudClaudeError("not_found", f"no user {username[:64]!r}")
                users.append(user)
            await repo.assign(conn, found.id, [u.id for u in users])
            meta["users"] = [u.username for u in users]
        if default is not None:
            await repo.set_default(conn, found.id, default)
            meta["default"] = default
        after = await repo.get(conn, found.id)
        assert after is not None
        await self._audit(conn, "credential.assigned", actor, after, meta)
        return after

    async def _locked(
        self, conn: Connection, credential_id: uuid.UUID, owner: uuid.UUID | None
    ) -> Credential:
        found = await repo.get(conn, credential_id, for_update=True)
        if found is None or (owner is not None and found.owner_user_id != owner):
            raise CloudClaudeError(state.CREDENTIAL_NOT_FOUND, f"no API key {credential_id}")
        return found

    def _seal(self, credential_id: uuid.UUID, key: str) -> bytes:
        return seal(self._server_key, PURPOSE, key.encode(), owner=credential_id)

    def _open(self, credential_id: uuid.UUID, name: str, sealed: bytes) -> str:
        try:
            return unseal(self._server_key, PURPOSE, sealed, owner=credential_id).decode()
        except (SealError, UnicodeDecodeError) as exc:
            raise CloudClaudeError(
                state.SEALED_SECRET_UNREADABLE,
                f"the stored API key {name} does not open with this server key; rotate it",
            ) from exc

    @staticmethod
    async def _audit(
        conn: Connection,
        kind: str,
        actor: Actor,
        found: Credential,
        meta: dict[str, Any] | None = None,
    ) -> None:
        await audit.record(
            conn,
            kind,
            actor,
            user_id=found.owner_user_id,
            credential_id=str(found.id),
            name=found.name,
            key=found.masked,
            owner=found.owner_username,
            **(meta or {}),
        )
