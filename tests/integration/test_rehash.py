"""Passwords are re-hashed on login when the argon2 parameters changed."""

from __future__ import annotations

from cloudclaude.app.wiring import Services
from cloudclaude.auth.passwords import PasswordHasher
from cloudclaude.core.settings import AuthSettings, RateLimitSettings
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain.accounts import Accounts
from cloudclaude.model.audit import Actor


async def test_login_rehashes_with_the_new_parameters(services: Services) -> None:
    user, _ = await services.accounts.create(
        Actor(name="t"), username="nina", password="nina-password"
    )
    old_hash = await users_repo.get_password_hash(services.db, user.id)
    assert old_hash is not None
    assert "t=1," in old_hash
    stronger = PasswordHasher(AuthSettings(argon2_time_cost=2, argon2_memory_kib=8192))
    accounts = Accounts(services.db, stronger, services.tokens, RateLimitSettings())
    await accounts.login("nina", "nina-password", None)
    new_hash = await users_repo.get_password_hash(services.db, user.id)
    assert new_hash is not None
    assert "t=2," in new_hash
    assert not stronger.needs_rehash(new_hash)
    assert (await accounts.login("nina", "nina-password", None)).user.id == user.id
