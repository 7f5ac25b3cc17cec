"""How the agent starts, recognises and checks a confined sing-box, and the modes of the files
it reads. Stand-in processes (``sleep`` under ``setpriv``, a Python that sleeps with sing-box's
arguments) take sing-box's place: the checks read the real ``/proc``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.egress import singbox_process as sp
from agent.egress.records import GatewayRecord, Records, open_to_group, write_private
from agent.errors import AgentError

IDENT = 0x77000000 + 7


def test_sing_box_is_started_through_the_confining_helper_as_its_own_id() -> None:
    argv = sp.argv(Path("/opt/sing-box"), "cc1234-gw7", IDENT)
    assert argv[:4] == ["ip", "netns", "exec", "cc1234-gw7"]
    helper = argv[argv.index(str(sp.CONFINE)) :]
    assert helper == [str(sp.CONFINE), str(IDENT), "--", "/opt/sing-box", *sp.SINGBOX_ARGS]
    assert argv[4:6] == [sys.executable, "-I"]  # no PYTHON* variables, no path from its cwd


def test_the_agent_itself_fails_the_confinement_check() -> None:
    with pytest.raises(AgentError) as caught:
        sp.check_confined(os.getpid(), IDENT)
    for what in ("Uid", "Gid", "CapEff", "CapBnd", "NoNewPrivs", "user namespace"):
        assert what in caught.value.message


@pytest.fixture
def stand_in() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _fake_sing_box(stand_in: list[subprocess.Popen[bytes]], cwd: Path, *args: str) -> int:
    code = "import time; time.sleep(60)"
    stand_in.append(subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd))
    return stand_in[-1].pid


def test_sing_box_is_known_by_its_arguments_and_its_gateway_directory(
    tmp_path: Path, stand_in: list[subprocess.Popen[bytes]]
) -> None:
    mine, other = tmp_path / "gateways" / "h1", tmp_path / "gateways" / "h2"
    mine.mkdir(parents=True)
    other.mkdir()
    pid = _fake_sing_box(stand_in, mine, *sp.SINGBOX_ARGS)
    stranger = _fake_sing_box(stand_in, mine, "run", "something-else")
    assert sp.alive(pid, mine / "sing-box.json")
    assert not sp.alive(pid, other / "sing-box.json")  # a reused PID elsewhere is not it
    assert not sp.alive(stranger, mine / "sing-box.json")
    assert sp.running_for(tmp_path / "gateways") == {pid: mine / "sing-box.json"}
    assert sp.running_for(other) == {}
    sp.stop(pid, mine / "sing-box.json")
    deadline = time.monotonic() + 5
    while sp.running(pid) and time.monotonic() < deadline:  # stop returns once it is exiting
        time.sleep(0.01)
    assert not sp.running(pid)
    assert sp.running(stranger)


def test_secret_files_are_root_only_and_the_allowlist_is_for_its_group(tmp_path: Path) -> None:
    config, allowlist = tmp_path / "sing-box.json", tmp_path / "allowlist.json"
    (tmp_path / "allowlist.json.tmp").write_text("left over")
    (tmp_path / "allowlist.json.tmp").chmod(0o666)
    write_private(config, "{}")
    write_private(allowlist, "{}", group=IDENT)
    assert _owner_mode(config) == (0, 0, 0o600)
    assert _owner_mode(allowlist) == (0, IDENT, 0o640)
    open_to_group(tmp_path, IDENT)
    assert _owner_mode(tmp_path) == (0, IDENT, 0o750)


async def test_the_gateways_directory_is_closed_to_everyone_but_root(tmp_path: Path) -> None:
    records = Records(tmp_path / "state" / "gateways")
    await records.save(GatewayRecord(host_id="h1", slot=1))
    assert stat.S_IMODE(records.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(records.dir_of("h1").stat().st_mode) == 0o700


def _owner_mode(path: Path) -> tuple[int, int, int]:
    seen = path.stat()
    return seen.st_uid, seen.st_gid, stat.S_IMODE(seen.st_mode)
