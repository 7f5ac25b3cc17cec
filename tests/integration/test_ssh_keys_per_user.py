"""SSH public keys are unique per user, not across users: nobody can squat another's key."""

from __future__ import annotations

import uuid

import asyncssh
import pytest

from cloudclaude.app.wiring import Services
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from tests.integration.conftest import random_name
from tests.integration.sshstack import SshStack

ACTOR = Actor(name="test")


def public_key() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="shared@laptop")
    return key.export_public_key().decode().strip()


async def test_two_users_may_register_the_same_key_but_not_twice(services: Services) -> None:
    alice, _ = await services.accounts.create(ACTOR, username=random_name())
    bob, _ = await services.accounts.create(ACTOR, username=random_name())
    key = public_key()
    first = await services.accounts.add_key(ACTOR, alice.id, key)
    second = await services.accounts.add_key(ACTOR, bob.id, key)
    assert first.fingerprint == second.fingerprint and first.user_id != second.user_id
    for user_id in (alice.id, bob.id):
        with pytest.raises(CloudClaudeError) as caught:
            await services.accounts.add_key(ACTOR, user_id, key, name="again")
        assert caught.value.error.slug == "ssh_key_duplicate"
        assert len(await services.accounts.list_keys(user_id)) == 1
    # Each user's key list (what the SSH proxy checks) holds only their own row.
    await services.accounts.delete_key(ACTOR, alice.id, first.id)
    assert await services.accounts.list_keys(alice.id) == []
    assert [k.id for k in await services.accounts.list_keys(bob.id)] == [second.id]


async def test_ssh_with_one_key_registered_by_two_users_reaches_each_ones_box(
    ssh_stack: SshStack,
) -> None:
    alice = await ssh_stack.user_with_host(key=False)
    bob = await ssh_stack.user_with_host(key=False)
    key_path, public = ssh_stack.client.new_key()
    accounts = ssh_stack.stack.services.accounts
    for user in (alice, bob):
        await accounts.add_key(ACTOR, uuid.UUID(user.user_id), public)
    seen = []
    for user in (alice, bob):
        done = await ssh_stack.client.run(ssh_stack.ssh(user, "hostname", key=key_path))
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout)
    assert seen[0] != seen[1]
