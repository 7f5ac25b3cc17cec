"""A backup restored on a "fresh machine": the old password logs in, ssh finds the home's file.

Real restic, real PostgreSQL (pg_dump / pg_restore), real dockerd and box image, the real
``cloudclaudectl backup create`` and ``cloudclaude restore`` commands, the real SSH proxy and
OpenSSH client. The wipe removes every container and home of the installation, its state
directory (server key, SSH host key, TLS) and uses a new, empty database, as a new machine
would have after installing; only the repository and a copy of its password remain.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_asyncio

from cloudclaude.core.settings import BackupSettings, Settings
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.model.audit import Actor
from tests.integration import pg
from tests.integration.conftest import random_name
from tests.integration.ctlserver import ctl_run, open_ctl_server
from tests.integration.processes import BIN
from tests.integration.sshstack import SshStack, open_ssh_stack
from tests.integration.test_exits_api import SOCKS

ACTOR = Actor(name="test")


@attrs.frozen
class Made:
    username: str
    password: str
    host: dict[str, Any]
    key: Path
    exit_label: str


async def make_state(ssh_stack: SshStack) -> Made:
    """A user (password known) with a running host, their key, a file in the home; an exit."""
    stack = ssh_stack.stack
    name = random_name()
    status, user = await stack.call("POST", "/v1/admin/users", json={"username": name})
    assert status == 201, user
    status, host = await stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user["id"], "disk_gb": 1}
    )
    assert status == 201, host
    assert (await stack.wait_task(host["task_id"]))["status"] == "succeeded"
    _, started = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/start")
    assert (await stack.wait_task(started["task_id"]))["status"] == "succeeded"
    key, public = ssh_stack.client.new_key()
    await stack.services.accounts.add_key(ACTOR, uuid.UUID(user["id"]), public)
    label = random_name("x")
    await stack.services.exits.create(ACTOR, {"label": label, **SOCKS})
    wrote = await ssh_stack.client.run(
        ssh_stack.client.ssh(name, "echo precious > ~/precious.txt", key=key)
    )
    assert wrote.returncode == 0, wrote.stderr
    return Made(name, user["password"], host, key, label)


def restore_env(settings: Settings, boxes_state: Path) -> dict[str, str]:
    """``cloudclaude restore``'s settings on the new machine, as environment variables."""
    return {
        **os.environ,
        "CLOUDCLAUDE_STATE_DIR": settings.state_dir,
        "CLOUDCLAUDE_DATABASE__URL": settings.database.url,
        "CLOUDCLAUDE_AGENT__MODE": "embedded",
        "CLOUDCLAUDE_AGENT__STATE_DIR": str(boxes_state),
        "CLOUDCLAUDE_AGENT__EGRESS_POOL": settings.agent.egress_pool,
        "CLOUDCLAUDE_CTL__SOCKET": str(Path(settings.state_dir) / "no-daemon.sock"),
    }


@pytest.fixture
def new_machine(pg_cluster: PrivateCluster, settings: Settings) -> Iterator[Settings]:
    """Settings of a fresh installation: an empty state directory, a new migrated database."""
    state = pg.scratch_dir("cc-state-new-")
    for url in pg.fresh_database(pg_cluster):
        yield attrs.evolve(
            settings, state_dir=str(state), database=attrs.evolve(settings.database, url=url)
        )
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
async def new_db(new_machine: Settings) -> AsyncIterator[Database]:
    async with trio_asyncio.open_loop(), Database.open(new_machine.database.url) as database:
        yield database


async def test_backup_wipe_restore_then_log_in_and_find_the_file(
    ssh_stack: SshStack,
    settings: Settings,
    backup_dir: Path,
    boxes_state: Path,
    new_machine: Settings,
    new_db: Database,
    tmp_path: Path,
) -> None:
    stack = ssh_stack.stack
    made = await make_state(ssh_stack)
    backup = BackupSettings(
        repository=str(backup_dir / "repo"), password_file=str(backup_dir / "state-password")
    )
    live = stack.live
    live.current = attrs.evolve(live.current, backup=backup)
    old_host_key = stack.services.ssh_host_key.export_public_key()
    old_pin = ssh_stack.pin

    async with open_ctl_server(live.current, stack.services) as ctl:
        made_backup = await ctl_run(ctl, "backup", "create")
        assert made_backup.returncode == 0, made_backup.stderr
        out = made_backup.stdout.decode()
        assert "home 1/1" in out and "succeeded" in out, out
        listed = await ctl_run(ctl, "backup", "list")
        assert listed.returncode == 0 and " succeeded " in listed.stdout.decode()
    # The operator keeps the repository password somewhere else.
    kept_password = tmp_path / "kept-password"
    shutil.copy(backup.password_file, kept_password)

    # Wipe: every container and home, the state directory; the new machine's database is empty.
    page = await hosts_repo.list_hosts(stack.services.db, limit=200, offset=0, include_deleted=True)
    for host in page.items:
        await stack.services.agent.remove_host(str(host.id), purge=True)
    shutil.rmtree(settings.state_dir)
    assert not (boxes_state / "volumes" / made.host["id"]).exists()

    restored = await trio.run_process(
        [
            str(BIN / "cloudclaude"),
            "restore",
            f"--repository={backup.repository}",
            f"--password-file={kept_password}",
        ],
        env=restore_env(new_machine, boxes_state),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr.decode()[-3000:]
    assert b"restored backup" in restored.stdout

    restored_stack = contextlib.asynccontextmanager(open_ssh_stack)
    workdir = tmp_path / "new"
    workdir.mkdir()
    async with restored_stack(new_machine, new_db, boxes_state, workdir, fresh=False) as new:
        # The same server: its SSH host key and TLS pin came back.
        assert new.stack.services.ssh_host_key.export_public_key() == old_host_key
        assert new.pin == old_pin
        # The old password logs in.
        login = await new.stack.services.accounts.login(made.username, made.password, "127.0.0.1")
        assert login.token
        # The exit's sealed password opens with the restored server key.
        exits = await new.stack.services.exits.list_exits(limit=100, offset=0)
        exit_ = next(e for e in exits.items if e.label == made.exit_label)
        _, spec = await new.stack.services.exits.exit_and_spec(exit_.id)
        assert spec.password == SOCKS["password"]
        # The host (no container on this machine yet) starts with its home, and ssh finds it.
        _, started = await new.stack.call("POST", f"/v1/admin/hosts/{made.host['id']}/start")
        assert (await new.stack.wait_task(started["task_id"]))["status"] == "succeeded"
        client = new.client
        found = await client.run(client.ssh(made.username, "cat ~/precious.txt", key=made.key))
        assert found.returncode == 0, found.stderr
        assert found.stdout == b"precious\n"
