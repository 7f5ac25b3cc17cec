"""Login limits per (user, address) with a capped slow-down across addresses, and the bounded
argon2 queue (cloudclaude/auth/ratelimit.py, cloudclaude/auth/passwords.py)."""

from __future__ import annotations

import threading

import pytest
import trio

from cloudclaude.auth.passwords import PasswordHasher
from cloudclaude.auth.ratelimit import LoginWindows
from cloudclaude.core.settings import AuthSettings, RateLimitSettings
from cloudclaude.errors import CloudClaudeError

LIMITS = RateLimitSettings(login_per_address=100, login_per_user=3, login_slowdown_max_s=2.0)


def test_failures_from_one_address_do_not_limit_another() -> None:
    windows = LoginWindows(LIMITS)
    for _ in range(3):
        windows.failed("127.0.0.2", "admin")
    assert windows.retry_after("127.0.0.2", "admin") is not None
    assert windows.retry_after("127.0.0.1", "admin") is None
    assert windows.retry_after("127.0.0.2", "someone-else") is None


def test_failures_across_addresses_slow_down_with_a_cap() -> None:
    windows = LoginWindows(LIMITS)
    assert windows.delay("admin") == 0.0
    delays = []
    for i in range(8):
        windows.failed(f"127.0.0.{10 + i}", "admin")
        delays.append(windows.delay("admin"))
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:5] == [0.25, 0.5, 1.0]
    assert delays[5:] == [2.0, 2.0, 2.0]  # capped, never a lock
    assert all(windows.retry_after(f"127.0.0.{10 + i}", "admin") is None for i in range(8))


def test_success_clears_the_pair_and_the_slow_down() -> None:
    windows = LoginWindows(LIMITS)
    for _ in range(3):
        windows.failed("127.0.0.1", "admin")
    windows.succeeded("127.0.0.1", "admin")
    assert windows.retry_after("127.0.0.1", "admin") is None
    assert windows.delay("admin") == 0.0


def _hasher() -> PasswordHasher:
    settings = AuthSettings(
        argon2_time_cost=1, argon2_memory_kib=8, hash_concurrency=1, hash_queue_max=1
    )
    return PasswordHasher(settings)


async def test_a_full_hash_queue_refuses_at_once_with_retry_after() -> None:
    hasher = _hasher()
    digest = await hasher.hash("a-password-123")
    release = threading.Event()

    async def blocked() -> None:
        await hasher._run(release.wait)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked)  # runs
        nursery.start_soon(blocked)  # waits: the queue is now full
        while hasher._queued < 2:
            await trio.sleep(0.01)
        with trio.fail_after(1), pytest.raises(CloudClaudeError) as caught:
            await hasher.verify(digest, "a-password-123")
        assert caught.value.error.slug == "auth_busy"
        assert caught.value.error.http_status == 503
        assert caught.value.extra["retry_after"] >= 1
        release.set()
    assert await hasher.verify(digest, "a-password-123")
    assert hasher._queued == 0
