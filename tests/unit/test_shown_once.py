"""The store behind forms that show a secret once (web.pages.shown_once): one GET of the same
session and page gets it, then nobody; it expires and it is bounded."""

from __future__ import annotations

import uuid

from web.pages.shown_once import ShownOnce

SESSION = uuid.UUID(int=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_secret_is_taken_once() -> None:
    once = ShownOnce()
    handle = once.put(SESSION, "user-created", {"password": "s3cret"})
    assert once.take(handle, SESSION, "user-created") == {"password": "s3cret"}
    assert once.take(handle, SESSION, "user-created") is None
    assert len(once) == 0


def test_another_session_or_page_gets_nothing_and_spends_nothing() -> None:
    once = ShownOnce()
    handle = once.put(SESSION, "user-created", {"password": "s3cret"})
    assert once.take(handle, uuid.UUID(int=2), "user-created") is None
    assert once.take(handle, SESSION, "host-created") is None
    assert once.take("not-a-handle", SESSION, "user-created") is None
    assert once.take(handle, SESSION, "user-created") == {"password": "s3cret"}


def test_a_secret_expires() -> None:
    clock = Clock()
    once = ShownOnce(ttl_s=120, clock=clock)
    handle = once.put(SESSION, "k", {"password": "s3cret"})
    clock.now += 119
    kept = once.put(SESSION, "k", {"password": "later"})
    clock.now += 2
    assert once.take(handle, SESSION, "k") is None
    assert len(once) == 1  # the expired entry is gone, not only hidden
    assert once.take(kept, SESSION, "k") == {"password": "later"}


def test_the_store_is_bounded_and_drops_the_oldest() -> None:
    once = ShownOnce(max_entries=3)
    handles = [once.put(SESSION, "k", {"n": str(n)}) for n in range(5)]
    assert len(once) == 3
    assert once.take(handles[0], SESSION, "k") is None
    assert once.take(handles[1], SESSION, "k") is None
    assert once.take(handles[4], SESSION, "k") == {"n": "4"}


def test_handles_differ_and_secrets_stay_out_of_reprs() -> None:
    once = ShownOnce()
    first = once.put(SESSION, "k", {"password": "s3cret"})
    second = once.put(SESSION, "k", {"password": "s3cret"})
    assert first != second and "s3cret" not in first + second
    assert "s3cret" not in repr(once._entries)
