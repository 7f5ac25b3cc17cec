"""Which outdated hosts a roll rebuilds now, leaves for their next stop, or skips."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest

from agent.config import AgentConfig
from cloudclaude.app.image_build import pinned_claude_code, version_mismatch
from cloudclaude.core.settings import AgentSettings, ImageSettings, Settings, SettingsError
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


def test_image_build_refuses_a_version_the_image_does_not_pin(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\nARG CLAUDE_CODE_VERSION=2.1.331\nRUN true\n")
    agent = AgentSettings(image_dir=str(tmp_path))
    assert pinned_claude_code(tmp_path) == "2.1.331"
    assert version_mismatch(Settings(agent=agent)) is None
    newer = Settings(agent=agent, image=ImageSettings(claude_code_version="2.2.0"))
    assert "pins 2.1.331" in (version_mismatch(newer) or "")
    # The image of this tree pins the setting's default.
    assert pinned_claude_code(Path(AgentConfig().image_dir)) == ImageSettings().claude_code_version
