"""Sliding-window login limits (cloudclaude/auth/ratelimit.py) driven by a fake clock."""

from __future__ import annotations

import pytest

from cloudclaude.auth.ratelimit import SlidingWindow


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def hits(window: SlidingWindow, key: str, count: int) -> None:
    for _ in range(count):
        window.hit(key)


def test_under_limit_may_try(clock: FakeClock) -> None:
    window = SlidingWindow(3, 60.0, clock=clock)
    hits(window, "a", 2)
    assert window.retry_after("a") is None


def test_limit_reached_gives_positive_int_retry_after(clock: FakeClock) -> None:
    window = SlidingWindow(3, 60.0, clock=clock)
    hits(window, "a", 3)
    retry = window.retry_after("a")
    assert isinstance(retry, int)
    assert retry == 60


def test_retry_after_counts_down_from_oldest_hit(clock: FakeClock) -> None:
    window = SlidingWindow(2, 60.0, clock=clock)
    window.hit("a")
    clock.now += 10
    window.hit("a")
    clock.now += 20.5
    assert window.retry_after("a") == 30


def test_retry_after_is_at_least_one(clock: FakeClock) -> None:
    window = SlidingWindow(1, 60.0, clock=clock)
    window.hit("a")
    clock.now += 59.999
    assert window.retry_after("a") == 1


def test_keys_are_independent(clock: FakeClock) -> None:
    window = SlidingWindow(1, 60.0, clock=clock)
    window.hit("a")
    assert window.retry_after("a") is not None
    assert window.retry_after("b") is None


def test_window_slides(clock: FakeClock) -> None:
    window = SlidingWindow(2, 60.0, clock=clock)
    window.hit("a")
    clock.now += 30
    window.hit("a")
    assert window.retry_after("a") is not None
    clock.now += 30
    assert window.retry_after("a") is None
    window.hit("a")
    assert window.retry_after("a") == 30


def test_configure_lowers_limit_keeping_hits(clock: FakeClock) -> None:
    window = SlidingWindow(5, 60.0, clock=clock)
    hits(window, "a", 2)
    assert window.retry_after("a") is None
    window.configure(2, 60.0)
    assert window.retry_after("a") == 60


def test_configure_shortens_window(clock: FakeClock) -> None:
    window = SlidingWindow(1, 60.0, clock=clock)
    window.hit("a")
    clock.now += 15
    assert window.retry_after("a") is not None
    window.configure(1, 10.0)
    assert window.retry_after("a") is None


def test_reset_forgets_key(clock: FakeClock) -> None:
    window = SlidingWindow(1, 60.0, clock=clock)
    window.hit("a")
    window.hit("b")
    window.reset("a")
    assert window.retry_after("a") is None
    assert window.retry_after("b") is not None


def test_prune_drops_expired_keys(clock: FakeClock) -> None:
    window = SlidingWindow(1, 60.0, clock=clock)
    window.hit("a")
    clock.now += 61
    window.prune()
    assert window._hits == {}
