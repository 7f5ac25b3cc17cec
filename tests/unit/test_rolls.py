"""Which outdated hosts a roll rebuilds now, leaves for their next stop, or skips."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from agent.config import AgentConfig
from agent.ops.images import build_args, context_files
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.settings import ImageSettings, SettingsError
from cloudclaude.domain.rolls import Planned, plan
from cloudclaude.model.hosts import Host, HostStatus

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def host(short_id: str, status: HostStatus, *, outdated: bool = True, **changes: Any) -> Host:
    base = Host(
        id=uuid.uuid4(),
        short_id=short_id,
        user_id=ALICE,
        status="stopped",
        desired_state="stopped",
        image_ref="cloudclaude-box:old",
        cpus=1,
        memory_mb=512,
        pids=64,
        disk_gb=1,
        timezone="UTC",
        box_public_key=None,
        error_code=None,
        error_message=None,
        last_activity_at=None,
        last_used_at=None,
        idle_stop_after_s=None,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(base, status=status, image_outdated=outdated, **changes)


def steps(planned: list[Planned]) -> dict[str, str]:
    return {p.host.short_id: p.step for p in planned}


FLEET = [
    host("stopped1", "stopped"),
    host("failed1", "failed"),
    host("running1", "running"),
    host("degrade1", "degraded"),
    host("pending1", "running", roll_pending=True),
    host("starting", "starting"),
    host("stopping", "stopping"),
    host("deleted1", "deleted"),
    host("current1", "stopped", outdated=False),
    host("bobs0001", "stopped", user_id=BOB),
]


def test_stopped_hosts_are_rebuilt_and_running_ones_wait_for_their_next_stop() -> None:
    assert steps(plan(FLEET)) == {
        "stopped1": "rebuild",
        "failed1": "rebuild",
        "running1": "defer",
        "degrade1": "defer",
        "pending1": "pending",
        "starting": "skip",
        "stopping": "skip",
        "bobs0001": "rebuild",
    }


def test_now_rebuilds_running_hosts_too() -> None:
    planned = steps(plan(FLEET, now=True))
    assert planned["running1"] == planned["degrade1"] == planned["pending1"] == "rebuild"
    assert planned["starting"] == "skip"


def test_a_user_or_named_hosts_narrow_the_roll() -> None:
    assert steps(plan(FLEET, user_id=BOB)) == {"bobs0001": "rebuild"}
    by_id = str(FLEET[2].id)
    named = plan(FLEET, refs=["stopped1", by_id, "current1", "deleted1"])
    assert steps(named) == {"stopped1": "rebuild", "running1": "defer", "current1": "skip"}
    assert [p.why for p in named if p.host.short_id == "current1"] == ["image up to date"]


def test_nothing_outdated_means_nothing_to_do() -> None:
    assert plan([host("a", "stopped", outdated=False), host("b", "running", outdated=False)]) == []


def test_the_claude_code_version_is_a_plain_version() -> None:
    assert ImageSettings().claude_code_version == "2.1.331"
    assert ImageSettings(claude_code_version="2.2.0-beta.1").claude_code_version == "2.2.0-beta.1"
    for bad in ("latest", "^2.1.0", "2.1", "2.1.331 && curl x"):
        with pytest.raises(SettingsError):
            ImageSettings(claude_code_version=bad)


def test_the_default_version_builds_the_image_the_dockerfile_pins() -> None:
    # No extra build argument: the same content hash, so upgrading leaves hosts current.
    files = context_files(AgentConfig())
    assert build_args(files, ImageSettings().claude_code_version) == {}
    assert build_args(files, "2.2.0") == {"CLAUDE_CODE_VERSION": "2.2.0"}


async def test_the_daemons_agent_sends_the_image_inputs_with_image_requests_and_creates() -> None:
    sent: list[Any] = []

    class Recording(Agent):
        async def request(self, request: Any, on_progress: Any = None) -> Any:
            sent.append(request)
            if isinstance(request, m.EnsureImage):
                return m.ImageReady(id=0, image="i", image_id="x", built=False)
            return m.HostReply(id=0, host=m.HostState(host_id="h", exists=True))

    agent = Recording("embedded", claude_code_version="2.2.0", extra_packages="jq cowsay")
    await agent.ensure_image()
    await agent.create_host("h", m.BoxSpec())
    assert [r.claude_code_version for r in sent] == ["2.2.0", "2.2.0"]
    assert [r.extra_packages for r in sent] == ["jq cowsay", "jq cowsay"]
