"""Backups as the daemon runs them: failures recorded, audited and on the dashboard; only the
newest ``backup.keep`` kept; ``cloudclaude restore`` lists backups and refuses to run beside a
live daemon or for a backup that is not there (real restic, PostgreSQL, dockerd, box image)."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
import trio

from cloudclaude.core.restic import Restic
from cloudclaude.core.settings import BackupSettings
from cloudclaude.domain import backup_manifest
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor, AuditFilter
from cloudclaude.model.backups import Backup
from tests.integration.conftest import random_name
from tests.integration.ctlserver import ctl_run, open_ctl_server
from tests.integration.hoststack import Stack
from tests.integration.processes import BIN
from tests.integration.test_pages import PASSWORD, sign_in

ACTOR = Actor(name="test")


def use_backup(stack: Stack, backup: BackupSettings) -> None:
    stack.live.current = attrs.evolve(stack.live.current, backup=backup)


async def test_a_failed_backup_is_recorded_audited_and_shown(
    stack: Stack, backup_dir: Path
) -> None:
    # A repository restic cannot make: a file stands where its directory would be.
    (backup_dir / "blocked").write_text("not a directory")
    use_backup(
        stack,
        BackupSettings(
            repository=str(backup_dir / "blocked" / "repo"), password_file=str(backup_dir / "pw")
        ),
    )
    async with open_ctl_server(stack.live.current, stack.services) as ctl:
        made = await ctl_run(ctl, "backup", "create")
        assert made.returncode != 0
        assert b"DISK_006" in made.stderr and b"Traceback" not in made.stderr, made.stderr
        listed = await ctl_run(ctl, "backup", "list")
        assert listed.returncode == 0, listed.stderr
        row = listed.stdout.decode().splitlines()[1]
        assert " failed " in row and "DISK_006" in row, row
    events = await stack.services.audit.page(AuditFilter(type="backup.failed"), limit=5)
    assert [e.metadata["code"] for e in events.items] == ["DISK_006"]

    admin = random_name("a")
    await stack.services.accounts.create(ACTOR, username=admin, role="admin", password=PASSWORD)
    client, _ = await sign_in(stack.app, admin)
    page = await (await client.get("/admin")).get_data(as_text=True)
    assert "Backups" in page and "DISK_006" in page and "badge failed" in page


async def test_only_the_newest_complete_backups_are_kept(stack: Stack, backup_dir: Path) -> None:
    await stack.running_host()  # a home to take, frozen while read
    backup = BackupSettings(
        repository=str(backup_dir / "repo"), password_file=str(backup_dir / "pw"), keep=2
    )
    use_backup(stack, backup)
    made = [await stack.services.backups.create(ACTOR) for _ in range(3)]
    assert [b.status for b in made] == ["succeeded"] * 3
    assert all(b.homes == 1 and b.size_bytes > 0 for b in made)
    restic = Restic(backup, Path(stack.live.current.state_dir))
    left = await restic.snapshots(backup_manifest.TAG)
    backups_left = {t for s in left for t in s.tags if t.startswith("backup=")}
    assert backups_left == {backup_manifest.backup_tag(str(b.id)) for b in made[1:]}
    manifests = [s for s in left if backup_manifest.MANIFEST_TAG in s.tags]
    assert len(manifests) == 2

    # One at a time: a second backup while one runs is refused with its code.
    fourth: list[Backup] = []

    async def another() -> None:
        fourth.append(await stack.services.backups.create(ACTOR))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(another)
        while not stack.services.backups.busy:
            await trio.sleep(0.01)
        with pytest.raises(CloudClaudeError) as busy:
            await stack.services.backups.create(ACTOR)
        assert busy.value.error.code == "DISK_009"

    # restore --list shows the complete backups, newest first.
    env = {**os.environ, "CLOUDCLAUDE_STATE_DIR": stack.live.current.state_dir}
    args = [f"--repository={backup.repository}", f"--password-file={backup.password_file}"]
    listed = await trio.run_process(
        [str(BIN / "cloudclaude"), "restore", "--list", *args],
        env=env, capture_stdout=True, capture_stderr=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    ids = [line.split()[0] for line in listed.stdout.decode().splitlines()[1:]]
    assert ids == [str(fourth[0].id), str(made[2].id)]

    # A backup that is not there, and a live daemon, are refused with their codes.
    missing = await trio.run_process(
        [str(BIN / "cloudclaude"), "restore", "0000-not-a-backup", *args],
        env={**env, "CLOUDCLAUDE_CTL__SOCKET": str(backup_dir / "none.sock")},
        capture_stdout=True, capture_stderr=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 1 and b"DISK_007" in missing.stderr, missing.stderr
    async with open_ctl_server(stack.live.current, stack.services) as ctl:
        refused = await trio.run_process(
            [str(BIN / "cloudclaude"), "restore", *args],
            env={**env, "CLOUDCLAUDE_CTL__SOCKET": str(ctl.path)},
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert refused.returncode == 2 and b"SYSTEM_026" in refused.stderr, refused.stderr
