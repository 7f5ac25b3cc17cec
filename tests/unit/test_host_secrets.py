"""Host secrets and rules: sealing with the server key, the box key pair, ids, limits."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudclaude.agent_client.client import AgentConnectionLost, AgentError
from cloudclaude.auth.sealing import V1, V2, SealError, seal, unseal, version
from cloudclaude.core.serverkey import derive
from cloudclaude.core.settings import WebSettings
from cloudclaude.db.errors import DatabaseUnavailable
from cloudclaude.domain.host_specs import (
    check_limits,
    check_timezone,
    new_box_key_pair,
    new_short_id,
)
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import HostLimits
from cloudclaude.tasks.context import failure_code
from web.live import TOPICS, USER_TOPICS, StreamLimits, parse_topics

KEY = bytes(range(32))


ROW = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_ROW = uuid.UUID("00000000-0000-4000-8000-000000000002")


def test_a_sealed_value_opens_only_with_its_key_and_purpose() -> None:
    sealed = seal(KEY, "box-key", b"private", owner=ROW)
    assert b"private" not in sealed
    assert version(sealed) == V2
    assert unseal(KEY, "box-key", sealed, owner=ROW) == b"private"
    with pytest.raises(SealError):
        unseal(bytes(32), "box-key", sealed, owner=ROW)
    with pytest.raises(SealError):
        unseal(KEY, "exit-credentials", sealed, owner=ROW)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        unseal(KEY, "box-key", tampered, owner=ROW)
    with pytest.raises(SealError):
        unseal(KEY, "box-key", b"short", owner=ROW)


def test_a_sealed_value_opens_only_in_its_own_row() -> None:
    sealed = seal(KEY, "box-key", b"private", owner=ROW)
    with pytest.raises(SealError):
        unseal(KEY, "box-key", sealed, owner=OTHER_ROW)


def test_a_version_1_value_still_opens_in_any_row() -> None:
    nonce = bytes(12)
    box = AESGCM(derive(KEY, "seal:box-key"))
    v1 = b"\x01" + nonce + box.encrypt(nonce, b"old", b"box-key")
    assert version(v1) == V1
    assert unseal(KEY, "box-key", v1, owner=OTHER_ROW) == b"old"
    with pytest.raises(SealError):
        unseal(KEY, "exit-credentials", v1, owner=ROW)
    with pytest.raises(SealError):
        unseal(KEY, "box-key", b"\x03" + v1[1:], owner=ROW)


def test_sealing_twice_gives_different_bytes() -> None:
    assert seal(KEY, "box-key", b"x", owner=ROW) != seal(KEY, "box-key", b"x", owner=ROW)


def test_box_key_pair_is_openssh_ed25519() -> None:
    public, private = new_box_key_pair()
    assert public.startswith("ssh-ed25519 ") and public.endswith(" cloudclaude-proxy")
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")


def test_short_ids_are_unambiguous_and_fit_the_schema() -> None:
    ids = {new_short_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 8 and not set(i) & set("01lo") for i in ids)


@pytest.mark.parametrize(
    "limits",
    [
        HostLimits(cpus=0),
        HostLimits(memory_mb=64),
        HostLimits(pids=-1),
        HostLimits(disk_gb=100_000),
    ],
)
def test_limits_out_of_range_are_refused(limits: HostLimits) -> None:
    with pytest.raises(CloudClaudeError) as refused:
        check_limits(limits)
    assert refused.value.error.slug == "validation_failed"


@pytest.mark.parametrize("zone", ["../../etc/shadow", "Europe/Berlin;rm", "", "a" * 65])
def test_bad_timezones_are_refused(zone: str) -> None:
    with pytest.raises(CloudClaudeError):
        check_timezone(zone)


def test_failures_are_sorted_into_retryable_and_final() -> None:
    assert failure_code(AgentConnectionLost("gone")) == ("SYSTEM_011", "gone", True)
    assert failure_code(AgentError("SYSTEM_013", "no dockerd"))[2] is True
    assert failure_code(AgentError("STATE_008", "no container"))[2] is False
    assert failure_code(DatabaseUnavailable("down"))[::2] == ("SYSTEM_002", True)
    code, _, retry = failure_code(CloudClaudeError("ssh_not_ready", "slow"))
    assert (code, retry) == ("SSH_001", False)
    assert failure_code(ValueError("bug"))[::2] == ("SYSTEM_001", False)


def test_topics_parse_to_an_allowed_subset() -> None:
    assert parse_topics(None, TOPICS) == TOPICS
    assert parse_topics("tasks, hosts", USER_TOPICS) == ("tasks", "hosts")
    for bad in ("audit", "hosts,bogus", " , "):
        with pytest.raises(CloudClaudeError):
            parse_topics(bad, USER_TOPICS)


def test_stream_limits_count_per_user_and_in_all() -> None:
    settings = WebSettings(sse_max_streams=3, sse_max_streams_per_user=2)
    limits = StreamLimits()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with limits.opened(alice, settings), limits.opened(alice, settings):
        with pytest.raises(CloudClaudeError):  # alice's own limit
            limits.opened(alice, settings).__enter__()
        with limits.opened(bob, settings), pytest.raises(CloudClaudeError):  # the total
            limits.opened(uuid.uuid4(), settings).__enter__()
    assert not limits.per_user  # every stream closed gives its slot back
