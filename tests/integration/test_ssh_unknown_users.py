"""A public key offered for a username that does not exist gets the same answers, and costs the
proxy the same work, as a wrong key offered for a real user (issue 15: before authentication,
SSH shows nothing about an account).

Behaviour, not timing: the real ``ssh -v`` against the real proxy, whose database is wrapped to
record every statement it runs. Both attempts must show the client the same methods and refusal,
and run the same statements in the same order (the key lookup included).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from cloudclaude.app.supervisor import proxy_context
from cloudclaude.db.pool import Database, Record
from cloudclaude.sshproxy.access import DUMMY_FINGERPRINTS, SshAccess
from cloudclaude.sshproxy.server import SshProxy
from tests.integration.sshclient import SshClient
from tests.integration.sshstack import SshStack
from tests.polling import quiet

#: What ``ssh -v`` says about authentication (the rest names ports and addresses).
_AUTH_LINES = re.compile(
    r"^(debug1: Authentications that can continue.*|debug1: Offering public key.*"
    r"|debug1: No more authentication methods.*|.*Permission denied.*)$",
    re.MULTILINE,
)


class Recording(Database):
    """The test database, recording each statement it runs (the SQL text, not the values)."""

    def __init__(self, inner: Database) -> None:
        super().__init__(inner._pool, inner.url)
        self.statements: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        self.statements.append(sql)
        return await super().fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        self.statements.append(sql)
        return await super().fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return await super().fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append(sql)
        return await super().execute(sql, *args)


@attrs.define
class Recorded:
    client: SshClient
    db: Recording


@pytest.fixture
async def recorded(ssh_stack: SshStack, tmp_path: Path) -> AsyncIterator[Recorded]:
    """A second proxy over the same services whose statements are recorded."""
    services = ssh_stack.stack.services
    db = Recording(services.db)
    limits = ssh_stack.stack.live.current.rate_limits
    access = SshAccess(db, services.hosts, services.tickets, limits, services.metrics)
    ctx = attrs.evolve(proxy_context(services), db=db, access=access)
    stopping = trio.Event()
    proxy = SshProxy(ctx, services.ssh_host_key, stopping)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        yield Recorded(SshClient(tmp_path, proxy.port, services.ssh_host_key), db)
        stopping.set()


async def test_a_key_for_an_unknown_user_is_refused_like_a_wrong_key_for_a_real_one(
    ssh_stack: SshStack, recorded: Recorded
) -> None:
    real = await ssh_stack.user_with_host(start=False)  # has a key of its own
    client, db = recorded.client, recorded.db
    wrong_key, _ = client.new_key()  # registered for nobody

    async def attempt(login: str) -> tuple[list[str], list[str]]:
        db.statements.clear()
        argv = client.ssh(login, "true", key=wrong_key, extra=["-v"])
        done = await client.run(argv)
        assert done.returncode == 255
        shown = _AUTH_LINES.findall(done.stderr.decode().replace(login, "NAME"))

        async def count() -> int:
            return len(db.statements)

        with trio.fail_after(30):  # the refused attempt's audit row is written after the close
            await quiet(count, window=1.0, interval=0.1)
        return shown, list(db.statements)

    shown_real, statements_real = await attempt(real.username)
    shown_unknown, statements_unknown = await attempt("nobody-here-at-all")
    assert shown_real == shown_unknown
    assert any("Permission denied (publickey," in line for line in shown_real), shown_real
    assert any("Offering public key" in line for line in shown_real), shown_real
    assert statements_real == statements_unknown
    assert any("FROM ssh_keys" in s for s in statements_unknown), statements_unknown
    assert any("FROM users" in s for s in statements_unknown), statements_unknown


async def test_no_user_and_no_key_never_match_even_the_dummy_key_set(ssh_stack: SshStack) -> None:
    services = ssh_stack.stack.services
    access = services.ssh_access
    real = await ssh_stack.user_with_host(start=False)
    keyless = await ssh_stack.user_with_host(start=False, key=False)
    real_user = await services.accounts.get(uuid.UUID(real.user_id))
    keyless_user = await services.accounts.get(uuid.UUID(keyless.user_id))
    fingerprint = (await services.accounts.list_keys(real_user.id))[0].fingerprint
    assert await access.key_allowed(real_user, fingerprint)
    assert not await access.key_allowed(None, fingerprint)
    assert not await access.key_allowed(real_user, "SHA256:not-a-registered-key")
    for dummy in DUMMY_FINGERPRINTS:
        assert not await access.key_allowed(None, dummy)
        assert not await access.key_allowed(keyless_user, dummy)
