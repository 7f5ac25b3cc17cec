"""Bearer tokens: JWT HS256 with a ``kid`` header, verified against a rotatable key ring.

Every token names its server-side session in a ``sid`` claim (a row of ``auth_sessions``, see
``cloudclaude.domain.sessions``) and carries that session's ``scope`` (``full`` or
``bootstrap``). The signature only proves the daemon issued the token; whether its session is
still alive (not signed out, not ended by a password change, disable, expiry or demotion) is
the session row's business, checked on every request. A token without ``sid`` is refused.

Signing keys are derived from the server key and the kid (``serverkey.derive``), so the
database holds only kids and their lifetimes. ``rotate`` makes a new current key; retired keys
keep verifying until every token they signed has expired (retired_at + token TTL).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import jwt
import trio

from cloudclaude.core.serverkey import derive
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import signing_keys
from cloudclaude.errors import CloudClaudeError

ALGORITHM = "HS256"
ISSUER = "cloudclaude"


@attrs.frozen(kw_only=True)
class Claims:
    user_id: uuid.UUID
    role: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    kid: str
    session_id: uuid.UUID
    scope: str


class UnknownKid(Exception):
    """The token names a key this ring does not hold (maybe another daemon rotated)."""


class KeyRing:
    """The usable signing keys; pure and synchronous, so it is unit-testable."""

    def __init__(
        self, server_key: bytes, ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._server_key = server_key
        self.ttl_s = ttl_s
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self.current_kid: str | None = None

    def load(self, rows: Iterable[signing_keys.SigningKeyRow]) -> None:
        rows = list(rows)
        self._keys = {row.kid: derive(self._server_key, f"jwt:{row.kid}") for row in rows}
        current = [row for row in rows if row.retired_at is None]
        self.current_kid = current[-1].kid if current else None

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def issue(
        self, user_id: uuid.UUID, role: str, *, session_id: uuid.UUID, scope: str = "full"
    ) -> tuple[str, dt.datetime]:
        if self.current_kid is None:
            raise RuntimeError("the key ring has no current signing key")
        now = int(self._clock())
        expires = now + self.ttl_s
        payload = {
            "iss": ISSUER,
            "sub": str(user_id),
            "role": role,
            "iat": now,
            "exp": expires,
            "jti": secrets.token_hex(8),
            "sid": str(session_id),
            "scope": scope,
        }
        token = jwt.encode(
            payload,
            self._keys[self.current_kid],
            algorithm=ALGORITHM,
            headers={"kid": self.current_kid},
        )
        return token, dt.datetime.fromtimestamp(expires, dt.UTC)

    def verify(self, token: str) -> Claims:
        """The token's claims; ``token_invalid`` for anything forged, expired or malformed."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise CloudClaudeError("token_invalid", "the token is not a JWT") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise CloudClaudeError("token_invalid", "the token's algorithm or key id is wrong")
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKid(kid)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Time claims are checked below against the ring's clock, not PyJWT's.
                options={
                    "require": ["exp", "iat", "sub", "iss", "sid"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise CloudClaudeError("token_invalid", "the token's signature is invalid") from exc
        if not isinstance(payload.get("exp"), int) or payload["exp"] <= self._clock():
            raise CloudClaudeError("token_invalid", "the token has expired")
        try:
            user_id = uuid.UUID(str(payload["sub"]))
            session_id = uuid.UUID(str(payload["sid"]))
        except ValueError as exc:
            raise CloudClaudeError("token_invalid", "the token's subject is malformed") from exc
        return Claims(
            user_id=user_id,
            role=str(payload.get("role")),
            issued_at=dt.datetime.fromtimestamp(int(payload["iat"]), dt.UTC),
            expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
            kid=kid,
            session_id=session_id,
            scope=str(payload.get("scope", "full")),
        )


def new_kid() -> str:
    return time.strftime("%Y%m%d", time.gmtime()) + "-" + secrets.token_hex(4)


class TokenService:
    """The key ring kept in step with ``signing_keys`` in the database."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        self._db = db
        self.ring = ring
        self._last_refresh = -1e9
        self._refresh_lock = trio.Lock()

    async def start(self) -> None:
        """Make sure a current key exists, then load the ring."""
        async with self._db.transaction() as conn:
            await signing_keys.ensure_current(conn, new_kid())
        await self.refresh()

    async def refresh(self) -> None:
        retired_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.ring.ttl_s)
        self.ring.load(await signing_keys.list_usable(self._db, retired_after))
        self._last_refresh = trio.current_time()

    async def rotate(self) -> str:
        async with self._db.transaction() as conn:
            row = await signing_keys.rotate(conn, new_kid())
        await self.refresh()
        return row.kid

    async def verify(self, token: str) -> Claims:
        try:
            return self.ring.verify(token)
        except UnknownKid:
            pass
        # Another daemon may have rotated: reload at most once a second, then try again.
        async with self._refresh_lock:
            if trio.current_time() - self._last_refresh > 1.0:
                await self.refresh()
        try:
            return self.ring.verify(token)
        except UnknownKid as exc:
            raise CloudClaudeError("token_invalid", "the token's key is unknown") from exc
