"""argon2id password hashing and the password policy (cloudclaude/auth/passwords.py)."""

from __future__ import annotations

import pytest

from cloudclaude.auth import passwords
from cloudclaude.auth.passwords import PasswordHasher
from cloudclaude.core.settings import AuthSettings
from cloudclaude.errors import CloudClaudeError

FAST = AuthSettings(argon2_time_cost=1, argon2_memory_kib=8192)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(FAST)


async def test_hash_is_argon2id(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed


async def test_same_password_hashes_differently(hasher: PasswordHasher) -> None:
    assert await hasher.hash("same password") != await hasher.hash("same password")


async def test_verify_accepts_right_password(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    assert await hasher.verify(hashed, "correct horse battery") is True


async def test_verify_rejects_wrong_password(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    assert await hasher.verify(hashed, "correct horse batterx") is False


@pytest.mark.parametrize("garbage", ["", "not a hash", "$argon2id$v=19$m=8192,t=1,p=1$abc"])
async def test_verify_garbage_hash_is_false(hasher: PasswordHasher, garbage: str) -> None:
    assert await hasher.verify(garbage, "whatever password") is False


async def test_verify_nobody_returns_without_error(hasher: PasswordHasher) -> None:
    await hasher.verify_nobody("some password")


async def test_needs_rehash_false_for_same_params(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    assert hasher.needs_rehash(hashed) is False


async def test_needs_rehash_true_when_time_cost_differs(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    stronger = PasswordHasher(AuthSettings(argon2_time_cost=2, argon2_memory_kib=8192))
    assert stronger.needs_rehash(hashed) is True


def test_needs_rehash_true_for_garbage(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash("garbage") is True


@pytest.mark.parametrize("length", [passwords.MIN_LENGTH, passwords.MAX_LENGTH])
def test_policy_accepts_boundaries(length: int) -> None:
    passwords.check_policy("a" * length)


@pytest.mark.parametrize("length", [0, passwords.MIN_LENGTH - 1, passwords.MAX_LENGTH + 1])
def test_policy_rejects_short_and_long(length: int) -> None:
    with pytest.raises(CloudClaudeError) as info:
        passwords.check_policy("a" * length)
    assert info.value.error.slug == "password_invalid"


def test_generate_length_and_alphabet() -> None:
    password = passwords.generate()
    assert len(password) == 20
    assert password.replace("-", "").replace("_", "").isalnum()
    passwords.check_policy(password)


def test_generate_is_unique() -> None:
    assert len({passwords.generate() for _ in range(200)}) == 200
