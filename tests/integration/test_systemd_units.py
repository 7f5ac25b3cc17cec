"""The shipped systemd files in ``systemd/`` are valid and say what production needs.

``systemd-analyze verify`` checks the units. It refuses a unit whose ``ExecStart`` binary does
not exist, so it runs on a copy whose ``/opt/cloudclaude/.venv/bin`` paths point at this
checkout's venv; the shipped units keep the production paths. The sysusers and tmpfiles files
are applied to a scratch root directory, which proves their syntax and the owners and modes
they give. No systemd as PID 1 is needed (DESIGN.md section 13).
"""

from __future__ import annotations

import configparser
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
PRODUCTION_BIN = "/opt/cloudclaude/.venv/bin/"
UNITS = (
    "cloudclaude.service",
    "cloudclaude-agent.socket",
    "cloudclaude-agent.service",
    "cloudclaude-image.service",
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: `make test` installs it (Debian package 'systemd')")
    return path


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cc-systemd-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _local_copy(unit: str, into: Path) -> Path:
    """The unit with its production venv paths pointed at this checkout's venv."""
    venv_bin = Path(sys.executable).parent
    copy = into / unit
    copy.write_text((SYSTEMD_DIR / unit).read_text().replace(PRODUCTION_BIN, f"{venv_bin}/"))
    return copy


def _verify(*units: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [_tool("systemd-analyze"), "verify", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = (result.stdout + result.stderr).splitlines()
    # verify may also mention units of the machine it runs on; only ours are under test.
    ours = [line for line in lines if any(unit.split(".")[0] in line for unit in UNITS)]
    return result.returncode, ours


def _service_section(unit: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SYSTEMD_DIR / unit).read_text())
    return parser["Service"]


def test_units_pass_systemd_analyze_verify(scratch: Path) -> None:
    copies = [_local_copy(unit, scratch) for unit in UNITS]
    returncode, complaints = _verify(*copies)
    assert complaints == []
    assert returncode == 0


def test_verify_catches_a_broken_unit(scratch: Path) -> None:
    """Guards the check above against passing vacuously: a wrong key is reported."""
    copy = _local_copy("cloudclaude.service", scratch)
    copy.write_text(copy.read_text().replace("Type=notify", "Type=notify\nTypoKey=yes"))
    _, complaints = _verify(copy)
    assert any("TypoKey" in line for line in complaints)


def test_daemon_unit_uses_sd_notify_and_reloads_with_sighup() -> None:
    service = _service_section("cloudclaude.service")
    assert service["Type"] == "notify"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_daemon_unit_runs_unprivileged_from_the_production_venv() -> None:
    service = _service_section("cloudclaude.service")
    assert service["User"] == "cloudclaude"
    assert service["ExecStart"] == (
        f"{PRODUCTION_BIN}cloudclaude run --config /etc/cloudclaude/cloudclaude.toml"
    )
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes"
    assert "MemoryDenyWriteExecute" not in service  # argon2-cffi needs W+X memory


def test_image_unit_builds_through_the_agent_unprivileged() -> None:
    """The package's background image build: as cloudclaude, no capabilities, one shot."""
    service = _service_section("cloudclaude-image.service")
    assert service["Type"] == "oneshot"
    assert service["User"] == "cloudclaude"
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes"
    assert service["ExecStart"].startswith(f"{PRODUCTION_BIN}cloudclaude image build")


def test_sysusers_and_tmpfiles_create_the_users_and_directories(scratch: Path) -> None:
    (scratch / "etc").mkdir()
    subprocess.run(
        [_tool("systemd-sysusers"), f"--root={scratch}", str(SYSTEMD_DIR / "cloudclaude.sysusers")],
        check=True,
        capture_output=True,
    )
    passwd = {
        line.split(":")[0]: line.split(":") for line in (scratch / "etc/passwd").read_text().split()
    }
    groups = {
        line.split(":")[0]: line.split(":") for line in (scratch / "etc/group").read_text().split()
    }
    assert "cloudclaude" in passwd
    assert "cloudclaude" in groups["cloudclaude-admin"][3].split(",")
    subprocess.run(
        [
            _tool("systemd-tmpfiles"),
            f"--root={scratch}",
            "--create",
            str(SYSTEMD_DIR / "cloudclaude.tmpfiles"),
        ],
        check=True,
        capture_output=True,
    )
    uid = int(passwd["cloudclaude"][2])
    for path, mode in (("run/cloudclaude", 0o711), ("var/lib/cloudclaude", 0o700)):
        info = (scratch / path).stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, mode), path
    # The agent's socket directory: root and group cloudclaude only (not systemd's root:root).
    gid = int(groups["cloudclaude"][2])
    info = (scratch / "run/cloudclaude-agent").stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, gid, 0o750)
