"""Sliding-window counters for login attempts, per key (an address, a username or both)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from cloudclaude.core.settings import RateLimitSettings


class SlidingWindow:
    """At most ``limit`` hits per ``window_s`` for each key; memory bounded by pruning."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def configure(self, limit: int, window_s: float) -> None:
        """Apply new limits (SIGHUP) without forgetting recent hits."""
        self.limit = limit
        self.window_s = window_s

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        now = self._clock()
        hits = self._recent(key, now)
        if len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[len(hits) - self.limit] + self.window_s - now))

    def hit(self, key: str) -> None:
        now = self._clock()
        self._recent(key, now)
        self._hits.setdefault(key, deque()).append(now)
        if len(self._hits) > 10_000:
            self.prune()

    def count(self, key: str) -> int:
        """Hits of ``key`` within the window."""
        return len(self._recent(key, self._clock()))

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def prune(self) -> None:
        now = self._clock()
        for key in list(self._hits):
            self._recent(key, now)


class LoginWindows:
    """The login limits (``rate_limits``), shared by every way in (API login, SSH, curl flows).

    - per source address: attempts from one address, whatever the username;
    - per (username, address): failed attempts; the hard limit, so an attacker elsewhere
      cannot lock a user out;
    - per username across all addresses: no lock, only a slow-down (``delay``) that grows
      with the failures past ``login_per_user`` and is capped at ``login_slowdown_max_s``.

    What counts as a hit is the caller's rule, the check is this one.
    """

    def __init__(self, limits: RateLimitSettings) -> None:
        self.per_address = SlidingWindow(limits.login_per_address, limits.window_s)
        self.per_pair = SlidingWindow(limits.login_per_user, limits.window_s)
        self.per_user = SlidingWindow(limits.login_per_user, limits.window_s)
        self.slowdown_max_s = limits.login_slowdown_max_s

    def configure(self, limits: RateLimitSettings) -> None:
        """Apply new limits (SIGHUP) without forgetting recent hits."""
        self.per_address.configure(limits.login_per_address, limits.window_s)
        self.per_pair.configure(limits.login_per_user, limits.window_s)
        self.per_user.configure(limits.login_per_user, limits.window_s)
        self.slowdown_max_s = limits.login_slowdown_max_s

    @staticmethod
    def _pair(address: str, username: str) -> str:
        return f"{username}\0{address}"

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds until this address and username may try again; None when they may now."""
        for window, key in (
            (self.per_address, address),
            (self.per_pair, self._pair(address, username)),
        ):
            wait = window.retry_after(key)
            if wait is not None:
                return wait
        return None

    def delay(self, username: str) -> float:
        """The slow-down before answering for ``username``: 0 until its failures (from any
        address) reach ``login_per_user``, then 0.25 s doubling per failure, capped."""
        over = self.per_user.count(username) - self.per_user.limit
        if over < 0:
            return 0.0
        return min(self.slowdown_max_s, 0.25 * float(2 ** min(over, 16)))

    def failed(self, address: str, username: str) -> None:
        self.per_address.hit(address)
        self.per_pair.hit(self._pair(address, username))
        self.per_user.hit(username)

    def failed_user(self, address: str, username: str) -> None:
        """A failure whose address attempt is already counted (the API counts every attempt)."""
        self.per_pair.hit(self._pair(address, username))
        self.per_user.hit(username)

    def succeeded(self, address: str, username: str) -> None:
        self.per_pair.reset(self._pair(address, username))
        self.per_user.reset(username)
