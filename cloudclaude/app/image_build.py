"""``cloudclaude image build``: make the box image through the agent, showing progress.

The daemon holds no Docker rights, so the build runs in the agent. Run as root (``make up``
does so before it starts anything), the command runs the agent's build in-process, with the
agent's own state directory, so no agent needs to be running yet; otherwise it asks the
configured one. Unchanged inputs make it a no-op that says so.

``image.claude_code_version`` goes to the agent as a build input (the ``CLAUDE_CODE_VERSION``
build argument of ``image/Dockerfile``, part of the image's content hash): another version is
another image, and hosts made from the previous one show "image outdated" once a create,
rebuild or ``hosts roll`` records the new one as current.
"""

from __future__ import annotations

import os
import sys

import attrs
import trio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import open_agent
from cloudclaude.app.up import agent_state_dir
from cloudclaude.core.settings import Settings


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
    try:
        async with open_agent(_builder(settings)) as agent:
            ready = await agent.ensure_image(force=force, on_progress=_print_progress)
    except AgentError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    verb = "built" if ready.built else "up to date (inputs unchanged)"
    version = settings.image.claude_code_version
    print(f"box image {ready.image} (Claude Code {version}) {verb}; also tagged :latest")
    return 0


def run(settings: Settings, *, force: bool) -> int:
    return trio.run(lambda: build(settings, force=force))
