"""argon2id password hashing in worker threads, at most ``hash_concurrency`` at once.

Each hash takes ``argon2_memory_kib`` of memory and tens of milliseconds of CPU, so it never
runs on the trio thread and never more than the limiter allows. At most ``hash_queue_max``
callers wait for a slot; past that they get ``auth_busy`` (503 with Retry-After) at once.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import TypeVar

import argon2
import trio

from cloudclaude.core.settings import AuthSettings
from cloudclaude.errors import CloudClaudeError

T = TypeVar("T")

MIN_LENGTH = 10
MAX_LENGTH = 1024


def check_policy(password: str) -> None:
    """Raise ``password_invalid`` unless the password is of an acceptable length."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise CloudClaudeError(
            "password_invalid",
            f"passwords need {MIN_LENGTH} to {MAX_LENGTH} characters, got {len(password)}",
        )


def generate() -> str:
    """A random password that is easy to type: 20 url-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


class PasswordHasher:
    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self._limiter = trio.CapacityLimiter(settings.hash_concurrency)
        self._queue_max = settings.hash_queue_max
        self._queued = 0  # running or waiting
        self._dummy: str | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        """``fn`` on a worker thread, or ``auth_busy`` when too many are waiting already."""
        if self._queued >= self._limiter.total_tokens + self._queue_max:
            raise CloudClaudeError("auth_busy", retry_after=1)
        self._queued += 1
        try:
            return await trio.to_thread.run_sync(fn, limiter=self._limiter)
        finally:
            self._queued -= 1

    async def hash(self, password: str) -> str:
        return await self._run(functools.partial(self._hasher.hash, password))

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except argon2.exceptions.VerificationError:
                return False
            except argon2.exceptions.InvalidHashError:
                return False

        return await self._run(check)

    async def verify_nobody(self, password: str) -> None:
        """Spend the time of one verification, so unknown usernames answer no faster."""
        if self._dummy is None:
            self._dummy = await self.hash(generate())
        await self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True
