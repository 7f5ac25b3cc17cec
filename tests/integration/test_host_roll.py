"""Rolling hosts forward to the current box image: "image outdated" in the API and
``cloudclaudectl hosts list``, and ``cloudclaudectl hosts roll`` rebuilding a stopped host now
and a running one at its next stop, each keeping its home (real agent, dockerd, box image).

A host "built from an older image" is one whose recorded ``image_ref`` is not the current one;
the test gives it an older ref instead of building a second box image (minutes each), so the
suite still builds the box image once.
"""

from __future__ import annotations

from typing import Any

from cloudclaude.db.pool import Database
from cloudclaude.db.repos import box_image as box_image_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.model.audit import Actor
from tests.integration.box_exec import exec_in_host
from tests.integration.ctlserver import ctl_run, open_ctl_server
from tests.integration.hoststack import Stack, host_id_of

OLDER = "cloudclaude-box:0000000000000000"


async def _shown(stack: Stack, host_id: str) -> dict[str, Any]:
    status, host = await stack.call("GET", f"/v1/admin/hosts/{host_id}")
    assert status == 200, host
    return dict(host)


async def _roll_tasks(stack: Stack, host_id: str) -> list[dict[str, Any]]:
    status, events = await stack.call("GET", f"/v1/admin/events?host_id={host_id}&limit=50")
    assert status == 200, events
    return [e for e in events["items"] if e["type"].startswith("host.roll.")]


async def test_outdated_hosts_are_shown_and_rolled_keeping_their_home(
    stack: Stack, db: Database
) -> None:
    host = await stack.running_host()
    host_id = host["id"]
    current = await stack.services.hosts.rolls.refresh_image()
    shown = await _shown(stack, host_id)
    assert shown["image_ref"] == current and shown["image_outdated"] is False
    note = await exec_in_host(host_id, ["sh", "-c", "echo kept > ~/note"], user="claude")
    assert note.exit_code == 0, note

    # The host was built from an older image (the image inputs changed since).
    await hosts_repo.update(db, host_id_of(host), image_ref=OLDER)
    assert (await _shown(stack, host_id))["image_outdated"] is True
    async with open_ctl_server(stack.live.current, stack.services) as ctl:
        listed = await ctl_run(ctl, "hosts", "list")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.decode().splitlines() if host_id in line)
        assert " outdated " in row

        # Running: marked, and rebuilt by its next stop.
        rolled = await ctl_run(ctl, "hosts", "roll", "--all")
        assert rolled.returncode == 0, rolled.stderr
        out = rolled.stdout.decode()
        assert f"{host['short_id']}: deferred" in out and "1 at their next stop" in out, out
        shown = await _shown(stack, host_id)
        assert shown["roll_pending"] is True and shown["image_outdated"] is True
        again = await ctl_run(ctl, "hosts", "roll", "--all")  # resumable: same answer
        assert "1 at their next stop" in again.stdout.decode()
        before = await stack.services.agent.inspect_host(host_id)
        _, stopped = await stack.call("POST", f"/v1/admin/hosts/{host_id}/stop")
        assert (await stack.wait_task(stopped["task_id"]))["status"] == "succeeded"
        after = await stack.services.agent.inspect_host(host_id)
        assert after.exists and after.container_id != before.container_id
        shown = await _shown(stack, host_id)
        assert shown["status"] == "stopped" and shown["image_ref"] == current
        assert shown["image_outdated"] is False and shown["roll_pending"] is False

        # Stopped: rebuilt at once, the roll follows it to its end.
        await hosts_repo.update(db, host_id_of(host), image_ref=OLDER)
        rolled = await ctl_run(ctl, "hosts", "roll", host["short_id"])
        assert rolled.returncode == 0, rolled.stderr
        out = rolled.stdout.decode()
        assert f"{host['short_id']}: succeeded" in out and ": 1 rebuilt, 0 failed" in out, out
        listed = await ctl_run(ctl, "hosts", "list")
        row = next(line for line in listed.stdout.decode().splitlines() if host_id in line)
        assert " current " in row
    shown = await _shown(stack, host_id)
    assert shown["image_ref"] == current and shown["image_outdated"] is False
    assert (await stack.services.agent.inspect_host(host_id)).container_id != after.container_id

    _, started = await stack.call("POST", f"/v1/admin/hosts/{host_id}/start")
    assert (await stack.wait_task(started["task_id"]))["status"] == "succeeded"
    kept = await exec_in_host(host_id, ["cat", "/home/claude/note"], user="claude")
    assert kept.stdout == "kept\n"
    # The box's Claude Code is the one the image pins (no second image build to change it).
    version = await exec_in_host(host_id, ["claude", "--version"], user="claude")
    assert "2.1.331" in version.stdout, version

    # Running, --now: rebuilt at once and running again (the tmux notice before it is tested in
    # test_image_version_roll.py).
    await hosts_repo.update(db, host_id_of(host), image_ref=OLDER)
    now = await stack.services.hosts.rolls.roll(Actor(name="test"), now=True, parallel=2)
    assert now.rebuilt == [host["short_id"]] and not now.deferred, now
    shown = await _shown(stack, host_id)
    assert shown["status"] == "running" and shown["image_outdated"] is False
    kept = await exec_in_host(host_id, ["cat", "/home/claude/note"], user="claude")
    assert kept.stdout == "kept\n"

    types = [e["type"] for e in await _roll_tasks(stack, host_id)]
    assert sorted(types) == [
        "host.roll.deferred",
        "host.roll.deferred",
        "host.roll.rebuild",
        "host.roll.rebuild",
    ]
    status, summaries = await stack.call("GET", "/v1/admin/events?type=host.roll.summary")
    assert status == 200 and len(summaries["items"]) >= 4, summaries
    assert summaries["items"][0]["metadata"]["rebuilt"] == [host["short_id"]]


async def test_a_new_current_image_makes_older_hosts_outdated(
    idle_stack: Stack, db: Database, box_image: str
) -> None:
    user_id, _ = await idle_stack.user()
    status, host = await idle_stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1}
    )
    assert status == 201, host
    await hosts_repo.update(db, host_id_of(host), image_ref="cloudclaude-box:aaaa")
    await box_image_repo.record(db, "cloudclaude-box:aaaa")
    assert (await _shown(idle_stack, host["id"]))["image_outdated"] is False
    assert await box_image_repo.record(db, "cloudclaude-box:bbbb")  # `image build` with new inputs
    assert not await box_image_repo.record(db, "cloudclaude-box:bbbb")
    assert (await _shown(idle_stack, host["id"]))["image_outdated"] is True
    status, mine = await idle_stack.call("GET", "/v1/admin/hosts")
    assert [h["image_outdated"] for h in mine["items"] if h["id"] == host["id"]] == [True]
    # A roll of a host still being created leaves it for a later run, audited.
    rolls = idle_stack.services.hosts.rolls
    planned = await rolls.roll(Actor(name="test"), refs=[host["short_id"]])
    assert planned.skipped == [host["short_id"]] and not planned.rebuilt
