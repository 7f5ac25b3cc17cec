"""``cloudclaude image build``: make the box image through the agent, showing progress.

The daemon holds no Docker rights, so the build runs in the agent. Run as root (``make up``
does so before it starts anything), the command runs the agent's build in-process, with the
agent's own state directory, so no agent needs to be running yet; otherwise it asks the
configured one. Unchanged inputs make it a no-op that says so.

``image.claude_code_version`` and ``image.extra_packages`` go to the agent as build inputs (the
``CLAUDE_CODE_VERSION`` and ``EXTRA_PACKAGES`` build arguments of ``image/Dockerfile``, part of
the image's content hash): another version, or other packages, make another image. With
``database.url`` set (the package's background build), the build's progress is kept in the
database for the dashboard and the image it ends with is recorded as current, so hosts made
from another one show "image outdated" at once.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_asyncio

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import open_agent
from cloudclaude.app.up import in_process_agent
from cloudclaude.core.settings import Settings
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import box_image


class BuildReport:
    """Progress on standard output (the journal) and, with ``database.url`` set, in the
    database for the dashboard: each stage change at once, percentages at most every
    ``EVERY_S``. At the end the image is recorded as current, so hosts on another one show
    "image outdated"."""

    EVERY_S = 2.0

    def __init__(self, db: Database | None) -> None:
        self._db = db
        self._stage = ""
        self._written = 0.0

    async def started(self) -> None:
        if self._db is not None:
            await box_image.build_started(self._db)

    async def progress(self, progress: m.Progress) -> None:
        print(f"[{progress.percent:3d}%] {progress.stage}: {progress.message}", flush=True)
        now = trio.current_time()
        if self._db is None or (
            progress.stage == self._stage and now - self._written < self.EVERY_S
        ):
            return
        self._stage, self._written = progress.stage, now
        await box_image.build_progress(self._db, progress.percent, progress.stage, progress.message)

    async def ended(self, image: str | None, error: AgentError | None) -> None:
        if self._db is None:
            return
        with trio.CancelScope(shield=True):
            if image is not None:
                await box_image.record(self._db, image)
            await box_image.build_ended(
                self._db,
                image=image,
                error_code=error.code if error else None,
                message=error.message if error else "",
            )


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database | None]:
    """The daemon's database when ``database.url`` is set (the package's build), else none
    (``make up`` builds before its private cluster runs)."""
    if not settings.database.url:
        yield None
        return
    async with trio_asyncio.open_loop(), Database.open(settings.database.url, max_size=1) as db:
        yield db


async def build(settings: Settings, *, force: bool) -> int:
    if settings.agent.mode == "none":
        print("error SYSTEM_011 agent_unavailable: agent.mode is none", file=sys.stderr)
        return 1
    async with _database(settings) as db:
        report = BuildReport(db)
        await report.started()
        try:
            async with open_agent(in_process_agent(settings)) as agent:
                ready = await agent.ensure_image(force=force, on_progress=report.progress)
        except AgentError as exc:
            await report.ended(None, exc)
            print(f"error {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        await report.ended(ready.image, None)
    verb = "built" if ready.built else "up to date (inputs unchanged)"
    inputs = f"Claude Code {settings.image.claude_code_version}"
    if settings.image.extra_packages:
        inputs += f"; extra packages: {settings.image.extra_packages}"
    print(f"box image {ready.image} ({inputs}) {verb}; also tagged :latest")
    return 0


def run(settings: Settings, *, force: bool) -> int:
    return trio.run(lambda: build(settings, force=force))
