"""Sliding-window counters for login attempts, per key (a source address or a username)."""

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

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def prune(self) -> None:
        now = self._clock()
        for key in list(self._hits):
            self._recent(key, now)


class LoginWindows:
    """The two login limits (``rate_limits``): per source address and per username.

    Shared by every way in (API login, SSH, the curl flows), each with its own windows; what
    counts as a hit is the caller's rule, the check is this one.
    """

    def __init__(self, limits: RateLimitSettings) -> None:
        self.per_address = SlidingWindow(limits.login_per_address, limits.window_s)
        self.per_user = SlidingWindow(limits.login_per_user, limits.window_s)

    def configure(self, limits: RateLimitSettings) -> None:
        """Apply new limits (SIGHUP) without forgetting recent hits."""
        self.per_address.configure(limits.login_per_address, limits.window_s)
        self.per_user.configure(limits.login_per_user, limits.window_s)

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds until this address and username may try again; None when they may now."""
        for window, key in ((self.per_address, address), (self.per_user, username)):
            wait = window.retry_after(key)
            if wait is not None:
                return wait
        return None

    def failed(self, address: str, username: str) -> None:
        self.per_address.hit(address)
        self.per_user.hit(username)
