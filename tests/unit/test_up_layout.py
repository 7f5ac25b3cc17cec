"""``cloudclaude up``'s layout: the agent's state lives beside the daemon's, never inside it."""

from __future__ import annotations

from pathlib import Path

import attrs

from cloudclaude.app import up
from cloudclaude.core.settings import AgentSettings, Settings


def test_the_agent_state_sits_beside_the_daemon_state() -> None:
    settings = Settings(state_dir="/var/lib/cloudclaude")
    assert up.agent_state_dir(settings) == Path("/var/lib/cloudclaude-agent")
    chosen = attrs.evolve(settings, agent=AgentSettings(state_dir="/srv/agent"))
    assert up.agent_state_dir(chosen) == Path("/srv/agent")


def test_an_earlier_layout_is_moved_out_without_overwriting(tmp_path: Path) -> None:
    old, new = tmp_path / "state" / "agent", tmp_path / "state-agent"
    (old / "volumes" / "h1").mkdir(parents=True)
    (old / "gateways").mkdir()
    (old / "build").mkdir()
    (new / "build").mkdir(parents=True)  # made meanwhile by `cloudclaude image build`
    up._move_old_agent_state(old, new)
    assert (new / "volumes" / "h1").is_dir() and (new / "gateways").is_dir()
    assert (old / "build").is_dir()  # kept where it was rather than merged over
    up._move_old_agent_state(old, new)  # a second run changes nothing
    assert sorted(p.name for p in new.iterdir()) == ["build", "gateways", "volumes"]


def test_the_agent_socket_is_per_installation() -> None:
    one = up.agent_socket(Settings(state_dir="/tmp/a"))
    two = up.agent_socket(Settings(state_dir="/tmp/b"))
    assert one.parent == two.parent == up.AGENT_SOCKET_DIR and one != two
