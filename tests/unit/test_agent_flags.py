"""The agent's flags and its configuration: whoever starts an agent gets the config it meant."""

from __future__ import annotations

from pathlib import Path

from agent import main
from agent.config import AgentConfig, ExtraMount, config_flags


def test_flags_give_back_the_same_config(tmp_path: Path) -> None:
    config = AgentConfig(
        state_dir=tmp_path / "agent",
        docker_socket="/run/docker-test.sock",
        image_dir=tmp_path / "image",
        base_image="cloudclaude-base:test",
        debian_mirror="http://mirror.invalid/debian",
        instance="cc-flags",
        egress_pool="198.19.0.0/16",
        sing_box=str(tmp_path / "sing-box"),
        extra_mounts=[ExtraMount.parse("/srv/shared:/shared"), ExtraMount.parse("/srv/w:/w:rw")],
    )
    args = main._parser().parse_args(["--socket=/run/x.sock", *config_flags(config)])
    assert main.config_of(args) == config
