"""Backups without services: the schedule's clock, the manifest, the state files' archive,
restic's environment file, and a part checked while it streams (a fake repository)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from cloudclaude.app.restore import stream_part
from cloudclaude.background.backup_schedule import due_between
from cloudclaude.core.restic import Sink, read_environment_file
from cloudclaude.core.settings import BackupSettings, SettingsError, daily_times
from cloudclaude.domain import backup_manifest
from cloudclaude.domain.backup_manifest import Manifest, Part
from cloudclaude.errors import CloudClaudeError

UTC = dt.UTC


def at(day: int, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_schedule_times_parse_and_bad_ones_are_refused() -> None:
    assert daily_times("") == []
    assert daily_times("15:00, 03:30") == [(3, 30), (15, 0)]
    for bad in ("3:00", "24:00", "03:60", "daily", "03:00;04:00"):
        with pytest.raises(SettingsError, match=r"backup\.schedule"):
            BackupSettings(schedule=bad)


def test_a_time_is_due_once_when_the_clock_passes_it() -> None:
    times = [(3, 0)]
    assert due_between(at(28, 2, 59, 50), at(28, 3, 0, 10), times)
    assert not due_between(at(28, 3, 0, 10), at(28, 3, 0, 30), times)  # not twice
    assert not due_between(at(28, 3, 0, 0), at(28, 3, 0, 20), times)  # (last, now]
    assert due_between(at(28, 23, 59), at(29, 3, 1), times)  # across midnight
    assert not due_between(at(28, 4, 0), at(28, 4, 1), [])


def _part(name: str, data: bytes, kind: backup_manifest.PartKind = "home") -> Part:
    return Part(
        name=name,
        kind=kind,
        snapshot="abc",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def test_a_manifest_round_trips_and_a_bad_one_is_corrupt() -> None:
    manifest = Manifest(
        backup_id="b1",
        created_at="2026-11-28T03:00:00+00:00",
        version="0.1.0",
        schema_version=11,
        parts=[_part("database.pgdump", b"db", "database"), _part("homes/h.tar", b"home")],
    )
    again = backup_manifest.decode(backup_manifest.encode(manifest))
    assert (
        again == manifest and again.size == 6 and [p.name for p in again.homes] == ["homes/h.tar"]
    )
    for bad in (
        b"{",
        b'{"backup_id": 1}',
        backup_manifest.encode(manifest).replace(b'"format": 1', b'"format": 9'),
    ):
        with pytest.raises(CloudClaudeError) as caught:
            backup_manifest.decode(bad)
        assert caught.value.error.slug == "backup_corrupt"
    with pytest.raises(CloudClaudeError):
        manifest.part("state")  # none: the manifest is not usable


def test_state_files_go_back_by_name_only(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "tls").mkdir(parents=True)
    (old / "server.key").write_bytes(b"K" * 32)
    (old / "tls" / "ca.pem").write_text("CA")
    (old / "tls" / "link").symlink_to("/etc/passwd")
    files = backup_manifest.state_files(old, old / "ssh_host_ed25519_key")
    assert sorted(files) == ["server.key", "tls/ca.pem"]  # no link, no missing key
    packed = backup_manifest.pack_state(files)

    new = tmp_path / "new"
    names = ["server.key", "tls/ca.pem"]
    places = backup_manifest.restore_targets(new, new / "hostkey", names)
    written = backup_manifest.unpack_state(packed, places, (0, 0))
    assert written == names
    assert (new / "server.key").read_bytes() == b"K" * 32
    assert (new / "tls" / "ca.pem").stat().st_mode & 0o777 == 0o600
    # Names that would leave the state directory are never places to write.
    assert "tls/../x" not in backup_manifest.restore_targets(new, new / "k", ["tls/../x"])

    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w:") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(CloudClaudeError) as caught:
        backup_manifest.unpack_state(hostile.getvalue(), places, (0, 0))
    assert caught.value.error.slug == "backup_corrupt"


def test_the_environment_file_is_key_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("# object storage\nAWS_ACCESS_KEY_ID=ak\n\nAWS_SECRET_ACCESS_KEY = s=k\n")
    assert read_environment_file(str(path)) == {
        "AWS_ACCESS_KEY_ID": "ak",
        "AWS_SECRET_ACCESS_KEY": "s=k",
    }
    assert read_environment_file("") == {}
    path.write_text("just words\n")
    with pytest.raises(CloudClaudeError, match="line 1"):
        read_environment_file(str(path))


class FakeRepository:
    """``Restic.dump`` of one stored file, in chunks."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def dump(self, _snapshot: str, _name: str, sink: Sink) -> None:
        for start in range(0, len(self.data), 3):
            await sink(self.data[start : start + 3])


async def test_a_part_that_does_not_match_its_manifest_never_reaches_its_end() -> None:
    part = _part("database.pgdump", b"the real archive", "database")
    seen: list[bytes] = []
    ended: list[bool] = []

    async def consume(chunks: AsyncIterator[bytes]) -> None:
        async for chunk in chunks:
            seen.append(chunk)
        ended.append(True)  # what pg_restore would take as "commit"

    await stream_part(FakeRepository(b"the real archive"), part, consume)  # type: ignore[arg-type]
    assert b"".join(seen) == b"the real archive" and ended == [True]

    seen.clear()
    ended.clear()
    with pytest.raises(CloudClaudeError) as caught:
        await stream_part(FakeRepository(b"the fake archive"), part, consume)  # type: ignore[arg-type]
    assert caught.value.error.slug == "backup_corrupt"
    assert ended == []
    await trio.lowlevel.checkpoint()


class FakeBackups:
    def __init__(self) -> None:
        self.made: list[str] = []
        self.abandoned = 0

    async def abandon_running(self) -> int:
        self.abandoned += 1
        return 0

    async def create(self, _actor: object, *, trigger: str) -> object:
        self.made.append(trigger)
        raise CloudClaudeError("backup_failed", "the repository is away")  # recorded; goes on


async def test_the_schedule_runs_a_backup_when_its_time_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cloudclaude.background import backup_schedule
    from cloudclaude.core.settings import LiveSettings, Settings

    clock = iter([at(28, 2, 59, 40), at(28, 2, 59, 59), at(28, 3, 0, 19), at(28, 3, 0, 39)])
    monkeypatch.setattr(backup_schedule, "utcnow", lambda: next(clock, at(28, 3, 1)))
    monkeypatch.setattr(backup_schedule, "TICK_S", 0.001)
    live = LiveSettings(Settings(backup=BackupSettings(schedule="03:00")))
    fake = FakeBackups()
    stopping = trio.Event()
    schedule = backup_schedule.BackupSchedule(fake, live, stopping)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(schedule.run)
        with trio.fail_after(10):
            while not fake.made:
                await trio.sleep(0.01)
            await trio.sleep(0.05)  # more ticks: the time is not run again
        stopping.set()
    assert fake.abandoned == 1 and fake.made == ["schedule"]
