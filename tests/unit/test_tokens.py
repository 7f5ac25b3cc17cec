"""The JWT key ring (cloudclaude/auth/tokens.py): issue, verify, rotation, forgeries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jwt
import pytest

from cloudclaude.auth.tokens import ISSUER, KeyRing, UnknownKid
from cloudclaude.core.serverkey import derive
from cloudclaude.db.repos.signing_keys import SigningKeyRow
from cloudclaude.errors import CloudClaudeError

SERVER_KEY = b"k" * 32
TTL = 3600
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
USER = uuid.UUID("12345678-1234-5678-1234-567812345678")
SID = uuid.UUID("87654321-4321-8765-4321-876543218765")


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def row(kid: str, retired: bool = False) -> SigningKeyRow:
    return SigningKeyRow(kid=kid, created_at=T0, retired_at=T0 if retired else None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def ring(clock: FakeClock) -> KeyRing:
    ring = KeyRing(SERVER_KEY, TTL, clock=clock)
    ring.load([row("k1")])
    return ring


def payload(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.now)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(USER),
        "role": "user",
        "iat": now,
        "exp": now + TTL,
        "sid": str(SID),
    }
    claims.update(overrides)
    return claims


def assert_token_invalid(ring: KeyRing, token: str) -> None:
    with pytest.raises(CloudClaudeError) as info:
        ring.verify(token)
    assert info.value.error.slug == "token_invalid"


def test_issue_and_verify_round_trip(ring: KeyRing, clock: FakeClock) -> None:
    token, expires = ring.issue(USER, "admin", session_id=SID)
    claims = ring.verify(token)
    assert claims.user_id == USER
    assert claims.role == "admin"
    assert claims.kid == "k1"
    assert expires == dt.datetime.fromtimestamp(int(clock.now) + TTL, dt.UTC)
    assert claims.expires_at == expires
    assert claims.session_id == SID
    assert claims.scope == "full"


def test_the_token_carries_its_session_id_and_scope(ring: KeyRing) -> None:
    token, _ = ring.issue(USER, "user", session_id=SID, scope="bootstrap")
    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw["sid"] == str(SID) and raw["scope"] == "bootstrap"
    claims = ring.verify(token)
    assert (claims.session_id, claims.scope) == (SID, "bootstrap")


def test_a_token_without_a_session_id_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    claims = payload(clock)
    del claims["sid"]
    token = jwt.encode(
        claims, derive(SERVER_KEY, "jwt:k1"), algorithm="HS256", headers={"kid": "k1"}
    )
    assert_token_invalid(ring, token)


def test_a_malformed_session_id_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    key = derive(SERVER_KEY, "jwt:k1")
    token = jwt.encode(payload(clock, sid="nope"), key, algorithm="HS256", headers={"kid": "k1"})
    assert_token_invalid(ring, token)


def test_issue_without_current_key_fails(clock: FakeClock) -> None:
    ring = KeyRing(SERVER_KEY, TTL, clock=clock)
    ring.load([row("old", retired=True)])
    with pytest.raises(RuntimeError):
        ring.issue(USER, "user", session_id=SID)


def test_old_token_still_verifies_after_rotation(ring: KeyRing) -> None:
    old_token, _ = ring.issue(USER, "user", session_id=SID)
    ring.load([row("k1", retired=True), row("k2")])
    assert ring.current_kid == "k2"
    assert ring.verify(old_token).kid == "k1"


def test_new_tokens_carry_new_kid_after_rotation(ring: KeyRing) -> None:
    ring.load([row("k1", retired=True), row("k2")])
    token, _ = ring.issue(USER, "user", session_id=SID)
    assert jwt.get_unverified_header(token)["kid"] == "k2"
    assert ring.verify(token).kid == "k2"


def test_token_valid_just_before_expiry(ring: KeyRing, clock: FakeClock) -> None:
    token, _ = ring.issue(USER, "user", session_id=SID)
    clock.now += TTL - 1
    assert ring.verify(token).user_id == USER


def test_token_invalid_after_expiry(ring: KeyRing, clock: FakeClock) -> None:
    token, _ = ring.issue(USER, "user", session_id=SID)
    clock.now += TTL + 1
    assert_token_invalid(ring, token)


def test_forged_signature_with_same_kid_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    forged = jwt.encode(payload(clock), b"f" * 32, algorithm="HS256", headers={"kid": "k1"})
    assert_token_invalid(ring, forged)


def test_key_of_other_server_key_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    other_key = derive(b"o" * 32, "jwt:k1")
    forged = jwt.encode(payload(clock), other_key, algorithm="HS256", headers={"kid": "k1"})
    assert_token_invalid(ring, forged)


def test_unknown_kid_raises_unknown_kid(ring: KeyRing, clock: FakeClock) -> None:
    token = jwt.encode(payload(clock), b"x" * 32, algorithm="HS256", headers={"kid": "nope"})
    with pytest.raises(UnknownKid):
        ring.verify(token)


def test_missing_kid_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    token = jwt.encode(payload(clock), derive(SERVER_KEY, "jwt:k1"), algorithm="HS256")
    assert_token_invalid(ring, token)


def test_alg_none_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    token = jwt.encode(payload(clock), "", algorithm="none", headers={"kid": "k1"})
    assert_token_invalid(ring, token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_hmac_alg_with_right_key_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    key = derive(SERVER_KEY, "jwt:k1")
    token = jwt.encode(payload(clock), key, algorithm="HS512", headers={"kid": "k1"})
    assert_token_invalid(ring, token)


def test_wrong_issuer_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    key = derive(SERVER_KEY, "jwt:k1")
    token = jwt.encode(payload(clock, iss="someone"), key, algorithm="HS256", headers={"kid": "k1"})
    assert_token_invalid(ring, token)


def test_malformed_subject_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    key = derive(SERVER_KEY, "jwt:k1")
    token = jwt.encode(
        payload(clock, sub="not-a-uuid"), key, algorithm="HS256", headers={"kid": "k1"}
    )
    assert_token_invalid(ring, token)


def test_missing_exp_is_rejected(ring: KeyRing, clock: FakeClock) -> None:
    claims = payload(clock)
    del claims["exp"]
    token = jwt.encode(
        claims, derive(SERVER_KEY, "jwt:k1"), algorithm="HS256", headers={"kid": "k1"}
    )
    assert_token_invalid(ring, token)


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."])
def test_garbage_is_rejected(ring: KeyRing, garbage: str) -> None:
    assert_token_invalid(ring, garbage)


def test_load_accepts_one_shot_iterable(clock: FakeClock) -> None:
    ring = KeyRing(SERVER_KEY, TTL, clock=clock)
    ring.load(row(kid) for kid in ["k1"])
    assert ring.current_kid == "k1"
