"""A new Claude Code version rolled into existing hosts, and the notice ``hosts roll --now``
shows in a running box first (real agent, dockerd, box image, ``cloudclaudectl``).

The version test builds a second box image (``image.claude_code_version`` changed), so it costs
one extra image build (see ``BUILD_BUDGET_S``); it removes that image again, also on failure,
and puts ``:latest`` back on the run's box image.
"""

from __future__ import annotations

import re
import time
from typing import Any

import trio

from cloudclaude.core.settings import ImageSettings
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.domain.rolls import NOTICE
from tests.integration.box_exec import exec_in_host
from tests.integration.boxes import back_to_the_runs_image
from tests.integration.ctlserver import ctl_run, open_ctl_server
from tests.integration.hoststack import Stack, host_id_of

#: A published @anthropic-ai/claude-code release other than the one image/Dockerfile pins.
NEW_VERSION = "2.1.332"
#: What the second build may take (measured here: about 80 s; only the layers from the
#: version's ARG on are rebuilt when dockerd still has the first build's cache).
BUILD_BUDGET_S = 900
OLDER = "cloudclaude-box:0000000000000000"
#: A tmux client of the box user on a pty, its screen written (and flushed) into the home.
CLIENT_LOG = "/home/claude/tmux-client.log"
ATTACH = f"(sleep 900 | script -qfc attach-claude {CLIENT_LOG}) </dev/null >/dev/null 2>&1 &"
_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][A-Za-z0-9]|[=>78MDEc])|[\x0e\x0f\r]")


async def _shown(stack: Stack, host_id: str) -> dict[str, Any]:
    status, host = await stack.call("GET", f"/v1/admin/hosts/{host_id}")
    assert status == 200, host
    return dict(host)


async def test_a_new_claude_code_version_rolls_a_host_forward_keeping_its_home(
    stack: Stack, box_image: str
) -> None:
    agent, rolls = stack.services.agent, stack.services.hosts.rolls
    pinned = ImageSettings().claude_code_version
    assert pinned != NEW_VERSION and agent.claude_code_version == pinned
    host = await stack.running_host()
    host_id = host["id"]
    assert await rolls.refresh_image() == box_image  # the setting's default: the pinned image
    note = await exec_in_host(host_id, ["sh", "-c", "echo kept > ~/note"], user="claude")
    assert note.exit_code == 0, note
    new_image = ""
    try:
        # The daemon restarted with image.claude_code_version changed, then `image build`.
        agent.claude_code_version = NEW_VERSION
        started = time.monotonic()
        with trio.fail_after(BUILD_BUDGET_S):
            ready = await agent.ensure_image()
        new_image = ready.image
        print(f"\nbox image with Claude Code {NEW_VERSION}: {time.monotonic() - started:.0f} s")
        assert ready.built and new_image != box_image
        again = await agent.ensure_image()  # the same version: a no-op
        assert not again.built and again.image == new_image

        assert await rolls.refresh_image() == new_image
        shown = await _shown(stack, host_id)
        assert shown["image_ref"] == box_image and shown["image_outdated"] is True
        async with open_ctl_server(stack.live.current, stack.services) as ctl:
            listed = await ctl_run(ctl, "hosts", "list")
            assert listed.returncode == 0, listed.stderr
            row = next(line for line in listed.stdout.decode().splitlines() if host_id in line)
            assert " outdated " in row, row
            rolled = await ctl_run(ctl, "hosts", "roll", host["short_id"], "--now")
            out = rolled.stdout.decode()
            assert rolled.returncode == 0, (out, rolled.stderr)
            assert f"{host['short_id']}: succeeded" in out and ": 1 rebuilt, 0 failed" in out, out

        shown = await _shown(stack, host_id)
        assert shown["status"] == "running" and shown["image_ref"] == new_image
        assert shown["image_outdated"] is False
        version = await exec_in_host(host_id, ["claude", "--version"], user="claude")
        assert NEW_VERSION in version.stdout, version
        kept = await exec_in_host(host_id, ["cat", "/home/claude/note"], user="claude")
        assert kept.stdout == "kept\n"
    finally:
        with trio.CancelScope(shield=True):
            agent.claude_code_version = pinned
            await agent.remove_host(host_id, purge=True)  # it runs the new image
            await back_to_the_runs_image(agent, new_image)


async def test_roll_now_shows_a_notice_in_the_boxs_tmux_before_the_rebuild(
    stack: Stack, db: Database
) -> None:
    host = await stack.running_host()
    host_id = host["id"]
    await stack.services.hosts.rolls.refresh_image()
    attach = await exec_in_host(host_id, ["sh", "-c", ATTACH], user="claude")
    assert attach.exit_code == 0, attach
    with trio.fail_after(30):
        while not (await exec_in_host(host_id, ["tmux", "list-clients"], "claude")).stdout:
            await trio.sleep(0.2)
    before = await stack.services.agent.inspect_host(host_id)

    await hosts_repo.update(db, host_id_of(host), image_ref=OLDER)  # built from an older image
    async with open_ctl_server(stack.live.current, stack.services) as ctl:
        rolled = await ctl_run(ctl, "hosts", "roll", host["short_id"], "--now")
    out = rolled.stdout.decode()
    assert rolled.returncode == 0, (out, rolled.stderr)
    assert f"{host['short_id']}: succeeded" in out and "notice failed" not in out, out

    after = await stack.services.agent.inspect_host(host_id)
    assert after.running and after.container_id != before.container_id
    # The client's screen, kept in the home: the old box showed the notice before it went.
    screen = await exec_in_host(host_id, ["cat", CLIENT_LOG], user="claude")
    assert screen.exit_code == 0, screen
    assert NOTICE in _ESCAPES.sub("", screen.stdout), screen.stdout[-2000:]
