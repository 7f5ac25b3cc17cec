"""The real ``cloudclaudectl`` binary: output into closed pipes, and ``hosts create``."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import trio

from cloudclaude.app.wiring import Services
from cloudclaude.ctl.server import CtlServer
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.model.audit import Actor
from tests.integration.ctlserver import ctl_run
from tests.integration.processes import BIN


def _json_documents(out: bytes) -> list[Any]:
    """Every JSON document ``--json`` printed (events one a line, then the reply)."""
    decoder, text, found, at = json.JSONDecoder(), out.decode(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


async def test_output_into_a_closed_pipe_ends_quietly(ctl: CtlServer, services: Services) -> None:
    """A reader gone before the output is written (``| head`` at its end): status 141, as
    for a tool SIGPIPE ends, and nothing on stderr; with enough output for ``head -1`` to
    stop reading, through a real shell pipeline."""
    for n in range(200):  # ~700 bytes a line: more than a pipe holds
        await services.audit.record(
            "auth.failed", Actor(name="test"), username=f"filler-{n:04}-" * 50
        )
    for argv in (["users", "list"], ["audit", "tail"], ["--json", "hosts", "list"], ["--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            result = await trio.run_process(
                [str(BIN / "cloudclaudectl"), "--socket", str(ctl.path), *argv],
                stdout=write_end,
                capture_stderr=True,
                check=False,
            )
        finally:
            os.close(write_end)
        # argparse itself ignores a failed write of --help (status 0); ours are 141.
        status = 0 if argv == ["--help"] else 141
        assert (result.returncode, result.stderr) == (status, b""), (argv, result.stderr)

    ctl_bin = f"{BIN / 'cloudclaudectl'} --socket {ctl.path}"
    for command in ("audit tail -n 200", "--json audit tail -n 200"):
        piped = await trio.run_process(
            ["bash", "-o", "pipefail", "-c", f"{ctl_bin} {command} | head -1"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert piped.stderr == b"", piped.stderr.decode()
        assert piped.returncode == 141 and len(piped.stdout.splitlines()) == 1, command
    whole = await ctl_run(ctl, "audit", "tail", "-n", "200")
    assert whole.returncode == 0 and len(whole.stdout.splitlines()) == 200

    # Following: the first event after ``head`` has gone ends the command.
    followed: list[subprocess.CompletedProcess[bytes]] = []

    async def follow() -> None:
        followed.append(
            await trio.run_process(
                ["bash", "-o", "pipefail", "-c", f"{ctl_bin} audit tail -f -n 1 | head -1"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        with trio.fail_after(30):
            while not followed:
                await services.audit.record("auth.failed", Actor(name="test"), username="late")
                await trio.sleep(0.2)
    assert followed[0].stderr == b"" and followed[0].returncode == 141
    assert len(followed[0].stdout.splitlines()) == 1


async def test_hosts_create_through_the_cli(ctl: CtlServer, services: Services) -> None:
    owner, _ = await services.accounts.create(Actor(name="test"), username="newbox")
    made = await ctl_run(
        ctl, "hosts", "create", "newbox", "--cpus", "1.5", "--memory-mb", "1024", "--disk-gb", "3"
    )
    assert made.returncode == 0, made.stderr.decode()
    out = made.stdout.decode()
    host = (await services.hosts.list_hosts(limit=10, offset=0, user_id=owner.id)).items[0]
    assert (host.cpus, host.memory_mb, host.disk_gb, host.status) == (1.5, 1024, 3, "pending")
    task = await services.hosts.tasks.active_for(host.id)
    assert task is not None and task.kind == "create" and task.status == "pending"
    assert out.startswith(f"host {host.short_id} created for newbox: 1.5 cpus, 1024 MB, 3 GB")
    assert f"create task {task.id}" in out and "ssh password " in out
    events = [e for e in await services.audit.recent(50) if e.host_id == host.id]
    assert events and all(e.actor.startswith("ctl:uid=") for e in events)

    listed = await ctl_run(ctl, "hosts", "list")
    line = next(ln for ln in listed.stdout.decode().splitlines() if host.short_id in ln)
    assert line.split()[:3] == [host.short_id, "newbox", "pending"]
    shown = await ctl_run(ctl, "--json", "hosts", "show", host.short_id)
    assert json.loads(shown.stdout)["owner"] == "newbox"

    # One host is newbox's max_hosts: a coded error, no traceback.
    refused = await ctl_run(ctl, "hosts", "create", "newbox")
    assert refused.returncode == 1 and "host_limit_reached" in refused.stderr.decode()
    assert "Traceback" not in refused.stderr.decode()
    await services.exits.create(
        Actor(name="test"), {"label": "direct", "kind": "direct", "dns_server": "198.18.0.53"}
    )
    other, _ = await services.accounts.create(Actor(name="test"), username="jsonbox")
    cases = [
        (["nobody"], "not_found"),
        (["jsonbox", "--exit", "nowhere"], "exit_not_found"),
        (["jsonbox", "--cpus", "999"], "validation_failed"),
    ]
    for argv, slug in cases:
        failed = await ctl_run(ctl, "hosts", "create", *argv)
        assert failed.returncode == 1 and slug in failed.stderr.decode(), (argv, failed.stderr)
    as_json = await ctl_run(ctl, "--json", "hosts", "create", "jsonbox", "--exit", "direct")
    assert as_json.returncode == 0, as_json.stderr.decode()
    data = json.loads(as_json.stdout)
    assert data["owner"] == "jsonbox" and data["user_id"] == str(other.id)
    assert data["egress_label"] == "direct"
    row = await services.hosts.get(uuid.UUID(data["id"]))
    assert row.short_id == data["short_id"] and row.egress and row.egress.label == "direct"
    created = await services.hosts.tasks.get(data["task_id"])
    assert created.kind == "create" and created.host_id == row.id


async def _finish_create_task(services: Services, host_user: uuid.UUID, status: str) -> None:
    """Play the task worker: wait for the user's create task, claim it and end it."""
    while True:
        page = await services.hosts.list_hosts(limit=1, offset=0, user_id=host_user)
        if page.items:
            break
        await trio.sleep(0.05)
    claimed = await tasks_repo.claim(services.db, "test-worker", 30)
    assert claimed is not None and claimed.task.host_id == page.items[0].id
    error = ("STATE_006", "no image") if status == "failed" else (None, None)
    await tasks_repo.finish(services.db, claimed.task.id, "test-worker", status, *error)


async def test_hosts_create_start_follows_the_create_and_start_task(
    ctl: CtlServer, services: Services
) -> None:
    user, _ = await services.accounts.create(Actor(name="test"), username="startme")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_finish_create_task, services, user.id, "succeeded")
        made = await ctl_run(ctl, "--json", "hosts", "create", "startme", "--start")
    assert made.returncode == 0, made.stderr.decode()
    *progress, data = _json_documents(made.stdout)
    assert progress[-1]["status"] == "succeeded" and progress[-1]["task_id"] == data["task_id"]
    task = await services.hosts.tasks.get(data["task_id"])
    assert task.kind == "create" and task.params == {"start": True}  # it starts the host too
    host = await services.hosts.get(uuid.UUID(data["id"]))
    assert host.desired_state == "running"

    failing, _ = await services.accounts.create(Actor(name="test"), username="nostart")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_finish_create_task, services, failing.id, "failed")
        failed = await ctl_run(ctl, "hosts", "create", "nostart", "--start")
    assert failed.returncode == 1
    err = failed.stderr.decode()
    assert "STATE_006 start_failed" in err and "ended failed" in err and "Traceback" not in err
    assert "create task pending 0%" in failed.stdout.decode()
    host = (await services.hosts.list_hosts(limit=1, offset=0, user_id=failing.id)).items[0]
    assert await services.hosts.tasks.active_for(host.id) is None
