"""``cloudclaude image build``: make the box image through the agent, showing progress.

The daemon holds no Docker rights, so the build runs in the agent. Run as root (``make up``
does so before it starts anything), the command runs the agent's build in-process, with the
agent's own state directory, so no agent needs to be running yet; otherwise it asks the
configured one. Unchanged inputs make it a no-op that says so.

``image.claude_code_version`` must match the version ``image/Dockerfile`` pins: the agent builds
from its image directory alone (no request may carry build inputs yet), so a different setting
is refused rather than silently building the pinned version.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import attrs
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import agent_config, open_agent
from cloudclaude.app.up import agent_state_dir
from cloudclaude.core.settings import Settings

_PINNED = re.compile(r"^ARG CLAUDE_CODE_VERSION=(\S+)\s*$", re.MULTILINE)


def pinned_claude_code(image_dir: Path) -> str | None:
    """The Claude Code version ``image_dir/Dockerfile`` installs (None: not pinned there)."""
    try:
        found = _PINNED.search((image_dir / "Dockerfile").read_text())
    except OSError:
        return None
    return found[1] if found else None


def version_mismatch(settings: Settings) -> str | None:
    """Why the image cannot be built as the settings ask (None: it can)."""
    image_dir = agent_config(settings).image_dir
    pinned = pinned_claude_code(image_dir)
    wanted = settings.image.claude_code_version
    if pinned is None or pinned == wanted:
        return None
    return (
        f"image.claude_code_version is {wanted} but {image_dir}/Dockerfile pins {pinned}; the"
        f" agent builds what its image directory pins: set ARG CLAUDE_CODE_VERSION={wanted}"
        " there (or the setting back), then build again"
    )


async def _print_progress(progress: m.Progress) -> None:
    print(f"[{progress.percent:3d}%] {progress.stage}: {progress.message}", flush=True)


def _builder(settings: Settings) -> Settings:
    """As root: an in-process agent keeping its state where ``up``'s agent keeps it."""
    if os.geteuid() != 0 or settings.agent.mode != "socket":
        return settings
    agent = attrs.evolve(settings.agent, mode="embedded", state_dir=str(agent_state_dir(settings)))
    return attrs.evolve(settings, agent=agent)


async def build(settings: Settings, *, force: bool) -> int:
    if settings.agent.mode == "none":
        print("error SYSTEM_011 agent_unavailable: agent.mode is none", file=sys.stderr)
        return 1
    mismatch = version_mismatch(settings)
    if mismatch is not None:
        print(f"error SYSTEM_004 validation_failed: {mismatch}", file=sys.stderr)
        return 2
    try:
        async with open_agent(_builder(settings)) as agent:
            ready = await agent.ensure_image(force=force, on_progress=_print_progress)
    except AgentError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    verb = "built" if ready.built else "up to date (inputs unchanged)"
    print(f"box image {ready.image} {verb}; also tagged :latest")
    return 0


def run(settings: Settings, *, force: bool) -> int:
    return trio.run(lambda: build(settings, force=force))
