"""Sealed secrets on a real Postgres: bound to their row; version 1 values re-sealed as 2."""

from __future__ import annotations

import json
import os
import uuid

import pytest
import trio
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudclaude.agent_client.handle import Agent
from cloudclaude.app.wiring import Services, build
from cloudclaude.auth.sealing import V1, V2, unseal, version
from cloudclaude.core.serverkey import derive, load_or_create
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.db.pool import Database
from cloudclaude.domain.exits import EXIT_CREDENTIALS
from cloudclaude.domain.hosts import BOX_KEY_PURPOSE
from cloudclaude.domain.resealing import reseal_all
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from tests.integration.conftest import random_name
from tests.integration.test_exits_api import SOCKS

ACTOR = Actor(name="test")


def seal_v1(key: bytes, purpose: str, plaintext: bytes) -> bytes:
    """A value in the old format: only the purpose bound as associated data."""
    nonce = os.urandom(12)
    return (
        b"\x01"
        + nonce
        + AESGCM(derive(key, f"seal:{purpose}")).encrypt(nonce, plaintext, purpose.encode())
    )


def server_key(services: Services) -> bytes:
    return load_or_create(services.live.current.state_path)


async def new_host(services: Services) -> uuid.UUID:
    user, _ = await services.accounts.create(ACTOR, username=random_name())
    host, _, _ = await services.hosts.create(ACTOR, user_id=user.id, limits=services.hosts.defaults)
    return host.id


async def box_sealed(db: Database, host_id: uuid.UUID) -> bytes:
    value = await db.fetchval("SELECT box_private_key_enc FROM hosts WHERE id = $1", host_id)
    return bytes(value)


async def exit_sealed(db: Database, exit_id: uuid.UUID) -> bytes:
    value = await db.fetchval("SELECT credentials_enc FROM egress_ips WHERE id = $1", exit_id)
    return bytes(value)


async def test_new_values_are_version_2_and_bound_to_their_row(services: Services) -> None:
    key = server_key(services)
    host_id = await new_host(services)
    sealed = await box_sealed(services.db, host_id)
    assert version(sealed) == V2
    assert unseal(key, BOX_KEY_PURPOSE, sealed, owner=host_id).startswith(b"-----BEGIN")
    created = await services.exits.create(ACTOR, {"label": random_name("x"), **SOCKS})
    sealed = await exit_sealed(services.db, created.id)
    assert version(sealed) == V2
    plain = unseal(key, EXIT_CREDENTIALS, sealed, owner=created.id)
    assert json.loads(plain) == {"password": "socks-password-42"}


async def test_a_box_key_moved_to_another_hosts_row_does_not_open(services: Services) -> None:
    first, second = await new_host(services), await new_host(services)
    moved = await box_sealed(services.db, first)
    await services.db.execute(
        "UPDATE hosts SET box_private_key_enc = $2 WHERE id = $1", second, moved
    )
    with pytest.raises(CloudClaudeError) as caught:
        await services.hosts.box_private_key(second)
    assert caught.value.error.slug == "sealed_secret_unreadable"
    assert await box_sealed(services.db, second) == moved  # left as it is
    assert (await services.hosts.box_private_key(first)).startswith(b"-----BEGIN")


async def test_exit_credentials_moved_to_another_exit_do_not_open(services: Services) -> None:
    one = await services.exits.create(ACTOR, {"label": random_name("x"), **SOCKS})
    two = await services.exits.create(
        ACTOR, {"label": random_name("x"), **SOCKS, "password": "other-password"}
    )
    moved = await exit_sealed(services.db, one.id)
    await services.db.execute(
        "UPDATE egress_ips SET credentials_enc = $2 WHERE id = $1", two.id, moved
    )
    with pytest.raises(CloudClaudeError) as caught:
        await services.exits.exit_and_spec(two.id)
    assert caught.value.error.slug == "exit_invalid"
    _, spec = await services.exits.exit_and_spec(one.id)
    assert spec.password == "socks-password-42"


async def test_version_1_values_are_resealed_at_start_up(
    services: Services, settings: Settings, db: Database, agent: Agent
) -> None:
    key = server_key(services)
    host_id = await new_host(services)
    private = await services.hosts.box_private_key(host_id)
    await db.execute(
        "UPDATE hosts SET box_private_key_enc = $2 WHERE id = $1",
        host_id,
        seal_v1(key, BOX_KEY_PURPOSE, private),
    )
    broken_host = await new_host(services)
    unreadable = seal_v1(bytes(32), BOX_KEY_PURPOSE, b"sealed with another server key")
    await db.execute(
        "UPDATE hosts SET box_private_key_enc = $2 WHERE id = $1", broken_host, unreadable
    )
    created = await services.exits.create(ACTOR, {"label": random_name("x"), **SOCKS})
    secrets = json.dumps({"password": "socks-password-42"}).encode()
    await db.execute(
        "UPDATE egress_ips SET credentials_enc = $2 WHERE id = $1",
        created.id,
        seal_v1(key, EXIT_CREDENTIALS, secrets),
    )
    assert version(await box_sealed(db, host_id)) == V1

    await build(LiveSettings(settings), db, agent)  # a daemon start

    sealed = await box_sealed(db, host_id)
    assert version(sealed) == V2
    assert unseal(key, BOX_KEY_PURPOSE, sealed, owner=host_id) == private
    sealed = await exit_sealed(db, created.id)
    assert version(sealed) == V2
    assert unseal(key, EXIT_CREDENTIALS, sealed, owner=created.id) == secrets
    assert await box_sealed(db, broken_host) == unreadable  # never lose a secret
    assert await reseal_all(db, key) == 0  # idempotent
    assert await box_sealed(db, broken_host) == unreadable


async def test_two_daemons_resealing_at_once_reseal_each_value_once(
    services: Services, db: Database
) -> None:
    key = server_key(services)
    hosts = [await new_host(services) for _ in range(4)]
    for host_id in hosts:
        private = await services.hosts.box_private_key(host_id)
        await db.execute(
            "UPDATE hosts SET box_private_key_enc = $2 WHERE id = $1",
            host_id,
            seal_v1(key, BOX_KEY_PURPOSE, private),
        )
    counts: list[int] = []

    async def run() -> None:
        counts.append(await reseal_all(db, key))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        nursery.start_soon(run)
    assert sum(counts) == len(hosts)
    for host_id in hosts:
        assert version(await box_sealed(db, host_id)) == V2


async def test_a_version_1_value_is_resealed_when_read(services: Services) -> None:
    key = server_key(services)
    host_id = await new_host(services)
    private = await services.hosts.box_private_key(host_id)
    await services.db.execute(
        "UPDATE hosts SET box_private_key_enc = $2 WHERE id = $1",
        host_id,
        seal_v1(key, BOX_KEY_PURPOSE, private),
    )
    assert await services.hosts.box_private_key(host_id) == private
    assert version(await box_sealed(services.db, host_id)) == V2

    created = await services.exits.create(ACTOR, {"label": random_name("x"), **SOCKS})
    secrets = json.dumps({"password": "socks-password-42"}).encode()
    await services.db.execute(
        "UPDATE egress_ips SET credentials_enc = $2 WHERE id = $1",
        created.id,
        seal_v1(key, EXIT_CREDENTIALS, secrets),
    )
    _, spec = await services.exits.exit_and_spec(created.id)
    assert spec.password == "socks-password-42"
    sealed = await exit_sealed(services.db, created.id)
    assert version(sealed) == V2
    assert json.loads(unseal(key, EXIT_CREDENTIALS, sealed, owner=created.id)) == json.loads(
        secrets
    )
