"""The agent's egress files: gateway records (read and written off the trio thread) and the
sing-box binary, checked once at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.egress.records import GatewayRecord, Records
from agent.egress.singbox_binary import CheckedBinary
from agent.errors import SINGBOX_UNAVAILABLE, AgentError


async def test_records_round_trip_and_are_forgotten(tmp_path: Path) -> None:
    records = Records(tmp_path / "gateways")
    assert await records.all() == []
    record = GatewayRecord(host_id="h1", slot=3, pid=42, allowed_domains=["example.com"])
    await records.save(record)
    await records.save(GatewayRecord(host_id="h2", slot=4))
    assert await records.load("h1") == record
    assert [r.host_id for r in await records.all()] == ["h1", "h2"]
    assert (records.dir_of("h1") / "state.json").stat().st_mode & 0o777 == 0o600
    await records.forget("h1")
    assert await records.load("h1") is None
    assert not records.dir_of("h1").exists()


async def test_a_directory_that_is_no_record_is_skipped(tmp_path: Path) -> None:
    records = Records(tmp_path)
    (tmp_path / "Not-A-Host").mkdir()
    (tmp_path / "h3").mkdir()
    (tmp_path / "h3" / "state.json").write_text('{"host_id": "h3"}')  # no slot
    await records.save(GatewayRecord(host_id="h4", slot=1))
    assert [r.host_id for r in await records.all()] == ["h4"]


async def test_an_unusable_sing_box_fails_each_use_with_the_start_check_error(
    tmp_path: Path,
) -> None:
    binary = CheckedBinary(str(tmp_path / "absent"))
    await binary.check()  # logged, not raised: boxes still run without egress
    for _ in range(2):
        with pytest.raises(AgentError) as caught:
            binary.path()
        assert caught.value.code == SINGBOX_UNAVAILABLE
        assert "absent" in caught.value.message


async def test_a_usable_sing_box_is_found_by_the_start_check(tmp_path: Path) -> None:
    path = tmp_path / "sing-box"
    path.write_text("")
    binary = CheckedBinary(str(path))
    with pytest.raises(AgentError):
        binary.path()  # not checked yet
    await binary.check()
    assert binary.path() == path
