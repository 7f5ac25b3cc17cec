"""Who may log in to the SSH proxy, and which host a login reaches (trio side, no asyncio).

The username picks the host: ``alice`` is Alice's only host or her most recently used one,
``alice+<short_id>`` a specific one of hers. Credentials: a registered public key of the user,
the host's SSH password, or a one-time bootstrap ticket (which names its host). Failed password
and ticket attempts count against the per-address and per-(user, address) windows and slow
down the user's later attempts (``LoginWindows``); keys are never blocked by them. Every attempt
is audited and counted in the metrics.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid

import attrs
import trio

from cloudclaude.auth.ratelimit import LoginWindows
from cloudclaude.auth.tickets import PREFIX as TICKET_PREFIX
from cloudclaude.auth.tickets import Tickets
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import RateLimitSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain import audit
from cloudclaude.domain.accounts import USERNAME_RE
from cloudclaude.domain.hosts import Hosts
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import Host
from cloudclaude.model.users import User

_SHORT_ID_RE = re.compile(r"^[a-z0-9]{6,16}$")
#: Whose keys a key offer for an unknown username is checked against: an id no user has.
NOBODY = uuid.UUID(int=0)
#: What such an offer is compared with (random, and never accepted anyway).
DUMMY_FINGERPRINTS = ("SHA256:" + secrets.token_urlsafe(32).rstrip("="),)


@attrs.frozen
class Login:
    """A parsed SSH username."""

    username: str
    short_id: str | None = None


def parse_login(text: str) -> Login | None:
    """``alice`` or ``alice+<short_id>``; None for anything else."""
    username, plus, short_id = text.partition("+")
    if not USERNAME_RE.match(username):
        return None
    if plus and not _SHORT_ID_RE.match(short_id):
        return None
    return Login(username, short_id if plus else None)


def ssh_actor(user: User, source_ip: str | None) -> Actor:
    return Actor(name=f"ssh:{user.username}", user_id=user.id, source_ip=source_ip)


@attrs.frozen
class Grant:
    """A successful login: the user, and the host the credential itself named (if any)."""

    user: User
    method: str
    host_id: uuid.UUID | None = None


class SshAccess:
    def __init__(
        self,
        db: Database,
        hosts: Hosts,
        tickets: Tickets,
        limits: RateLimitSettings,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._hosts = hosts
        self._tickets = tickets
        self._metrics = metrics
        self.limits = LoginWindows(limits)

    def configure_limits(self, limits: RateLimitSettings) -> None:
        self.limits.configure(limits)

    async def account(self, login: Login) -> User | None:
        """The user behind a login (None when unknown).

        Nothing is refused here: before authentication a client learns nothing about an
        account (``refusal`` tells a user why only once a credential of theirs was accepted),
        and public keys are never blocked by password failures.
        """
        return await users_repo.get_by_username(self._db, login.username)

    @staticmethod
    def refusal(user: User) -> CloudClaudeError | None:
        """Why an authenticated user may not go on (disabled, expired), or None."""
        status = user.effective_status(utcnow())
        return None if status == "active" else CloudClaudeError(f"account_{status}")

    async def key_allowed(self, user: User | None, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is a registered key of ``user``.

        An unknown user (None) takes the same path, so neither the answer nor the work tells
        whether an account exists: the same query (for an id no user has) and the same
        constant-time comparison, against a dummy key set when there is no key.
        """
        keys = await users_repo.list_keys(self._db, user.id if user is not None else NOBODY)
        registered = [key.fingerprint for key in keys]
        hits = [hmac.compare_digest(f, fingerprint) for f in registered or DUMMY_FINGERPRINTS]
        return user is not None and bool(registered) and any(hits)

    async def check_password(
        self, login: Login, user: User | None, secret: str, source_ip: str
    ) -> Grant | None:
        """A ticket (its own host) or the routed host's SSH password; None when wrong.

        Raises ``rate_limited`` past the (user, address) limit and ``auth_busy`` when the
        password-check queue is full; unknown users, wrong passwords and refused accounts
        take the same path and time (``verify_nobody``).
        """
        name = login.username
        wait = self.limits.retry_after(source_ip, name)
        if wait is not None:
            await self.failed(name, user, "password", "rate_limited", source_ip, count=False)
            raise CloudClaudeError("rate_limited", f"too many failed logins; try again in {wait} s")
        await trio.sleep(self.limits.delay(name))  # slow-down, never a lock-out
        if user is not None and secret.startswith(TICKET_PREFIX):
            claimed = await self._tickets.consume(secret)
            if claimed is not None and claimed[0] == user.id:
                return Grant(user, "ticket", claimed[1])
            if claimed is not None:
                await self.failed(name, user, "ticket", "ticket_of_another_user", source_ip)
                return None
        if user is None:
            await self._hosts.verify_nobody(secret)
            await self.failed(name, None, "password", "unknown_user", source_ip)
            return None
        try:
            host = await self.route(login, user)
        except CloudClaudeError:
            await self._hosts.verify_nobody(secret)
            await self.failed(name, user, "password", "no_such_host", source_ip)
            return None
        if await self._hosts.verify_ssh_password(host.id, secret):
            return Grant(user, "password", host.id)
        await self.failed(name, user, "password", "wrong_password", source_ip)
        return None

    async def entry(
        self, short_id: str, password: str, source_ip: str | None
    ) -> tuple[Grant, Host]:
        """The entry short link: the host's SSH password, checked like a login."""
        address = source_ip or "unknown"
        name = f"entry:{short_id}"[:64]  # the per-user window counts per box here
        wait = self.limits.retry_after(address, name)
        if wait is not None:
            await self.failed(name, None, "host_password", "rate_limited", address, count=False)
            raise CloudClaudeError("rate_limited", retry_after=wait)
        await trio.sleep(self.limits.delay(name))
        host = await hosts_repo.get_by_short_id(self._db, short_id)
        if host is None or host.status == "deleted":
            await self._hosts.verify_nobody(password or "-")
            await self.failed(name, None, "host_password", "no_such_host", address)
            raise CloudClaudeError("host_not_found", f"no box {short_id}")
        user = await users_repo.get(self._db, host.user_id)
        assert user is not None
        if not password or not await self._hosts.verify_ssh_password(host.id, password):
            await self.failed(name, user, "host_password", "wrong_password", address)
            raise CloudClaudeError("auth_invalid", "wrong password for this box")
        status = user.effective_status(utcnow())
        if status != "active":
            reason = f"account_{status}"
            await self.failed(name, user, "host_password", reason, address, count=False)
            raise CloudClaudeError(f"account_{status}")
        grant = Grant(user, "host_password", host.id)
        await self.succeeded(grant, address)
        return grant, host

    async def route(self, login: Login, user: User, pinned: uuid.UUID | None = None) -> Host:
        """The host a login reaches (``host_not_found`` when there is none)."""
        if pinned is not None:
            return await self._hosts.get(pinned, owner=user.id)
        hosts = await hosts_repo.for_user(self._db, user.id)
        if login.short_id is not None:
            hosts = [h for h in hosts if h.short_id == login.short_id]
            if not hosts:
                raise CloudClaudeError(
                    "host_not_found", f"{user.username} has no host {login.short_id}"
                )
        if not hosts:
            raise CloudClaudeError("host_not_found", f"{user.username} has no host yet")
        return hosts[0]

    async def succeeded(self, grant: Grant, source_ip: str) -> None:
        self.limits.succeeded(source_ip, grant.user.username)
        self._metrics.auth_attempts.labels(f"ssh_{grant.method}", "success").inc()
        actor = ssh_actor(grant.user, source_ip)
        await audit.record(
            self._db,
            "auth.success",
            actor,
            user_id=grant.user.id,
            method=grant.method,
            channel="ssh",
        )

    async def failed(
        self,
        username: str,
        user: User | None,
        method: str,
        reason: str,
        source_ip: str,
        *,
        count: bool = True,
    ) -> None:
        """Audit a refused attempt; ``count`` it towards the address and user windows."""
        name = username[:64]
        if count:
            self.limits.failed(source_ip, name)
        self._metrics.auth_attempts.labels(f"ssh_{method}", "failure").inc()
        meta = {"username": name, "reason": reason, "method": method, "channel": "ssh"}
        actor = Actor(name=f"ssh:{name}", source_ip=source_ip)
        await audit.record(
            self._db, "auth.failed", actor, user_id=user.id if user else None, meta=meta
        )
