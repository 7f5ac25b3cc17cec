"""``cloudclaude image build`` with a database: its progress and end kept for the dashboard,
and the image it ends with recorded as current (real agent, dockerd, PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import trio
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import Settings
from cloudclaude.db.repos import box_image as image_repo
from cloudclaude.model.audit import Actor
from tests.integration.processes import BIN
from tests.integration.test_pages import PASSWORD, sign_in


def build_env(settings: Settings, boxes_state: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CLOUDCLAUDE_STATE_DIR": settings.state_dir,
        "CLOUDCLAUDE_DATABASE__URL": settings.database.url,
        "CLOUDCLAUDE_AGENT__MODE": "embedded",
        "CLOUDCLAUDE_AGENT__STATE_DIR": str(boxes_state),
        **extra,
    }


async def image_build(env: dict[str, str]) -> tuple[int, str]:
    done = await trio.run_process(
        [str(BIN / "cloudclaude"), "image", "build"],
        env=env, capture_stdout=True, capture_stderr=True, check=False,
    )  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).decode()


async def dashboard(app: QuartTrio, services: Services, name: str) -> str:
    await services.accounts.create(Actor(name="t"), username=name, role="admin", password=PASSWORD)
    client, _ = await sign_in(app, name)
    return str(await (await client.get("/admin")).get_data(as_text=True))


async def test_a_build_is_recorded_and_shown(
    settings: Settings, services: Services, app: QuartTrio, boxes_state: Path, box_image: str
) -> None:
    code, output = await image_build(build_env(settings, boxes_state))
    assert code == 0, output
    last = await services.hosts.rolls.last_build()
    assert last is not None and last.status == "succeeded" and last.image == box_image
    assert last.percent == 100
    # Hosts made from another image now show "image outdated" without any host task.
    assert await image_repo.current(services.db) == box_image
    assert box_image in await dashboard(app, services, "imgadmin")


async def test_a_running_and_a_failed_build_are_shown(
    settings: Settings, services: Services, app: QuartTrio, boxes_state: Path
) -> None:
    await image_repo.build_started(services.db)
    await image_repo.build_progress(services.db, 45, "build", "Step 7/20 : RUN apt-get install")
    page = await dashboard(app, services, "imgadmin2")
    assert "building: 45% build: Step 7/20" in " ".join(page.split())

    away = build_env(settings, boxes_state, CLOUDCLAUDE_AGENT__DOCKER_SOCKET="/nonexistent.sock")
    code, output = await image_build(away)
    assert code == 1 and "SYSTEM_013" in output and "Traceback" not in output, output
    last = await services.hosts.rolls.last_build()
    assert last is not None and last.status == "failed" and last.error_code == "SYSTEM_013"
    assert "SYSTEM_013" in await dashboard(app, services, "imgadmin3")
