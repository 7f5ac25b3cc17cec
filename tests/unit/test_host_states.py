"""The host state machine's table: what may follow what, and the coded refusal."""

from __future__ import annotations

import itertools

import pytest

from cloudclaude.domain import host_states
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.hosts import HOST_STATUSES


def test_the_table_names_every_status_and_only_known_ones() -> None:
    assert set(host_states.TRANSITIONS) == set(HOST_STATUSES)
    for targets in host_states.TRANSITIONS.values():
        assert targets <= set(HOST_STATUSES)


@pytest.mark.parametrize("status", [s for s in HOST_STATUSES if s != "deleted"])
def test_a_live_host_may_stay_where_it_is(status: str) -> None:
    assert host_states.allowed(status, status)  # type: ignore[arg-type]


def test_deleted_is_final() -> None:
    for target in HOST_STATUSES:
        assert not host_states.allowed("deleted", target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("pending", "running"),  # a host runs only after starting
        ("stopped", "degraded"),  # only a running host's egress can break
        ("deleting", "running"),
        ("deleting", "starting"),
        ("running", "deleted"),  # deleting comes first
        ("deleted", "starting"),
    ],
)
def test_an_illegal_transition_is_a_coded_error(source: str, target: str) -> None:
    with pytest.raises(CloudClaudeError) as caught:
        host_states.check(source, target)  # type: ignore[arg-type]
    assert caught.value.error is state.ILLEGAL_TRANSITION
    assert caught.value.error.code == "STATE_013" and caught.value.http_status == 409
    assert f"from {source} to {target}" in str(caught.value)


def test_the_lifecycle_of_a_host_is_allowed() -> None:
    path = [
        "pending",
        "stopped",
        "starting",
        "running",
        "degraded",
        "running",
        "stopping",
        "stopped",
        "deleting",
        "deleted",
    ]
    for source, target in itertools.pairwise(path):
        host_states.check(source, target)  # type: ignore[arg-type]


def test_sources_are_the_inverse_of_the_table() -> None:
    assert host_states.sources("degraded") == {"running", "degraded"}
    assert host_states.sources("deleted") == {"deleting"}
    assert "pending" not in host_states.sources("running")


def test_a_host_offers_only_the_actions_its_status_allows() -> None:
    offered = host_states.offered_actions
    assert "start" not in offered("running") and "stop" in offered("running")
    assert "stop" not in offered("stopped") and "start" in offered("stopped")
    assert "verify_egress" in offered("degraded") and "verify_egress" not in offered("stopped")
    assert offered("deleted") == frozenset() and offered("deleting") == frozenset()
    for status in HOST_STATUSES:  # each offered action's first step is a legal move
        for action in offered(status):
            step, _ = host_states.ACTION_STEPS[action]
            assert host_states.allowed(status, step)
