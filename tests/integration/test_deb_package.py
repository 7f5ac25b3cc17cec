"""The Debian package under a real systemd: ``apt-get install ./cloudclaude_*.deb`` and after.

The package is built once from this checkout (``systemd/build-deb.sh``, what ``make deb`` runs)
and installed into a Debian 12 system booted with systemd as PID 1 in ``systemd-nspawn`` with
its own network namespace (``tests/integration/nspawn_system.py``; the root, with the package's
dependencies, is cached under ``build/deb-test``). Preseeded before the install: other ports
(web 18443, ssh 12222), another agent instance and egress pool, so nothing here could meet a
``make up`` on this machine even without the private network.

The tests run in file order on one installation: install, what runs and as whom, the control
socket, TLS, socket activation, reload, an upgrade over it, drain on stop, remove and purge.
A box is not created: running a container inside needs the machine's cgroup tree bound in,
which stops the container's systemd from tracking its services (see nspawn_system.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import nspawn_system
from tests.integration.nspawn_system import System

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WEB_PORT = 18443
DAEMON_ENV = (
    "[Service]\n"
    f"Environment=CLOUDCLAUDE_WEB__PORT={WEB_PORT} CLOUDCLAUDE_SSH__PORT=12222\n"
    "Environment=CLOUDCLAUDE_AGENT__INSTANCE=ccdebtest"
    " CLOUDCLAUDE_AGENT__EGRESS_POOL=100.127.0.0/16\n"
)
AGENT_ENV = "CLOUDCLAUDE_AGENT_ARGS=--instance ccdebtest --egress-pool 100.127.0.0/16\n"
UPGRADE_VERSION = "0.1.0+upgrade1"


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The package built from this checkout, and the same repacked as a newer version."""
    out = tmp_path_factory.mktemp("deb")
    constraints = out / "constraints.txt"
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    )
    constraints.write_text(freeze.stdout)
    built = subprocess.run(
        [str(REPO / "systemd" / "build-deb.sh"), str(out)],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONSTRAINTS": str(constraints)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (deb,) = out.glob("cloudclaude_*_*.deb")
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    lines = control.read_text().splitlines()
    control.write_text(
        "\n".join(
            f"Version: {UPGRADE_VERSION}" if line.startswith("Version:") else line for line in lines
        )
        + "\n"
    )
    newer = out / "newer.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Znone", "--build", str(tree), str(newer)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return deb, newer


@pytest.fixture(scope="module")
def system(debs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    prepare = [
        ("/etc/systemd/system/cloudclaude.service.d/test.conf", DAEMON_ENV),
        ("/etc/cloudclaude/agent.env", AGENT_ENV),
        ("/etc/hostname", "ccdebtest\n"),
    ]
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    with nspawn_system.booted(prepare, log=log) as booted:
        for deb in debs:
            shutil.copy(deb, booted.root / "root" / deb.name)
        booted.sh("useradd -m ccop && useradd -m ccother")
        yield booted


@pytest.fixture(scope="module")
def install_output(system: System, debs: tuple[Path, Path]) -> str:
    done = system.run(
        "/bin/sh",
        "-c",
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y /root/{debs[0].name}",
    )
    return done.stdout


def _active(system: System, unit: str) -> str:
    return system.run("systemctl", "is-active", unit, check=False).stdout.strip()


def _show(system: System, unit: str, prop: str) -> str:
    return system.run("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()


def _journal(system: System, unit: str) -> list[dict[str, object]]:
    out = system.run("journalctl", "-u", unit, "-o", "cat", "--no-pager").stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _exists(system: System, path: str) -> bool:
    return system.run("test", "-e", path, check=False).returncode == 0


def _wait_for_event(system: System, unit: str, event: str, after: int) -> dict[str, object]:
    for _ in range(300):
        events = [e for e in _journal(system, unit)[after:] if e.get("event") == event]
        if events:
            return events[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {event} in the journal of {unit}")


def test_install_sets_up_and_prints_the_first_admin_command(
    system: System, install_output: str
) -> None:
    assert "cloudclaudectl users add admin --role admin" in install_output
    assert system.sh("id -nG cloudclaude").split() == ["cloudclaude", "cloudclaude-admin"]
    # The role and database on the local cluster, owned by cloudclaude (peer authentication).
    owner = system.sh(
        "runuser -u postgres -- psql -tAc "
        "\"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'cloudclaude'\""
    )
    assert owner.strip() == "cloudclaude"
    # The daemon made the server key and the TLS certificate on its first start.
    keys = system.sh("stat -c '%U %a %s' /var/lib/cloudclaude/server.key").split()
    assert keys == ["cloudclaude", "600", "32"]
    assert "BEGIN CERTIFICATE" in system.sh("cat /var/lib/cloudclaude/tls/server.pem")
    assert system.sh("stat -c '%U:%G %a' /etc/cloudclaude/cloudclaude.toml").strip() == (
        "root:cloudclaude 640"
    )
    # The box image build was started in the background; its outcome is in the journal.
    assert _show(system, "cloudclaude-image.service", "ExecMainStartTimestampMonotonic") != "0"


def test_units_are_active(system: System, install_output: str) -> None:
    for unit in ("postgresql.service", "cloudclaude-agent.socket", "cloudclaude.service"):
        assert _active(system, unit) == "active", unit
    assert _show(system, "cloudclaude.service", "UnitFileState") == "enabled"
    assert _show(system, "cloudclaude-agent.socket", "UnitFileState") == "enabled"


def test_daemon_runs_as_cloudclaude_without_capabilities(
    system: System, install_output: str
) -> None:
    pid = _show(system, "cloudclaude.service", "MainPID")
    status = dict(line.split(":", 1) for line in system.sh(f"cat /proc/{pid}/status").splitlines())
    uid = system.sh("id -u cloudclaude").strip()
    assert status["Uid"].split() == [uid] * 4
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap].strip(), 16) == 0, cap


def test_healthz_answers_over_tls(system: System, install_output: str) -> None:
    body = system.sh(
        f"curl -fsS --cacert /var/lib/cloudclaude/tls/ca.pem https://127.0.0.1:{WEB_PORT}/healthz"
    )
    assert json.loads(body)["status"] == "ok"
    # Plain HTTP on the same port is not served.
    plain = system.run("curl", "-fsS", f"http://127.0.0.1:{WEB_PORT}/healthz", check=False)
    assert plain.returncode != 0


def test_cloudclaudectl_for_admin_group_only(system: System, install_output: str) -> None:
    system.run("usermod", "-aG", "cloudclaude-admin", "ccop")
    ok = system.run("runuser", "-u", "ccop", "--", "cloudclaudectl", "status", "--json")
    assert json.loads(ok.stdout)["database"]["status"] == "ok"
    system.run("runuser", "-u", "ccop", "--", "cloudclaudectl", "users", "add", "alice")
    refused = system.run(
        "runuser", "-u", "ccother", "--", "cloudclaudectl", "status", "--json", check=False
    )
    assert refused.returncode != 0
    # The socket is group cloudclaude-admin, mode 0660: others cannot even connect.
    assert "Permission denied" in refused.stderr
    assert "database" not in refused.stdout
    listed = system.run("cloudclaudectl", "users", "list", "--json").stdout
    assert "alice" in listed


def test_the_unprivileged_daemon_makes_a_backup(system: System, install_output: str) -> None:
    """pg_dump as the role cloudclaude and restic, under the unit's sandbox, into the default
    repository; the password file is made 0600 for the daemon only."""
    made = system.run("cloudclaudectl", "backup", "create", check=False)
    assert made.returncode == 0, made.stderr
    assert "succeeded" in made.stdout, made.stdout
    listed = system.run("cloudclaudectl", "backup", "list").stdout
    assert " succeeded " in listed
    password = system.sh("stat -c '%U %a' /var/lib/cloudclaude/backup-password").strip()
    assert password == "cloudclaude 600"
    assert "cloudclaude-manifest" in system.sh(
        "RESTIC_PASSWORD_FILE=/var/lib/cloudclaude/backup-password"
        " restic -r /var/lib/cloudclaude/backups snapshots --json"
    )


def test_agent_is_socket_activated(system: System, install_output: str) -> None:
    system.run("systemctl", "stop", "cloudclaude.service", "cloudclaude-agent.service")
    assert _active(system, "cloudclaude-agent.service") == "inactive"
    assert _active(system, "cloudclaude-agent.socket") == "active"
    # The daemon's first request to the agent starts it through the socket.
    system.run("systemctl", "start", "cloudclaude.service")
    status = json.loads(system.run("cloudclaudectl", "status", "--json").stdout)
    assert status["agent"]["status"] == "ok"
    assert _active(system, "cloudclaude-agent.service") == "active"
    assert "cloudclaude-agent.socket" in _show(system, "cloudclaude-agent.service", "TriggeredBy")


def test_reload_applies_a_changed_setting(system: System, install_output: str) -> None:
    seen = len(_journal(system, "cloudclaude.service"))
    pid = _show(system, "cloudclaude.service", "MainPID")
    system.sh(
        "printf '\\n[rate_limits]\\nlogin_per_user = 7\\n' >> /etc/cloudclaude/cloudclaude.toml"
    )
    system.run("systemctl", "reload", "cloudclaude.service")
    event = _wait_for_event(system, "cloudclaude.service", "settings_reloaded", seen)
    assert "rate_limits.login_per_user" in event["applied"]  # type: ignore[operator]
    assert _show(system, "cloudclaude.service", "MainPID") == pid


def test_upgrade_keeps_data_and_configuration(
    system: System, debs: tuple[Path, Path], install_output: str
) -> None:
    key_before = system.sh("sha256sum /var/lib/cloudclaude/server.key")
    pid_before = _show(system, "cloudclaude.service", "MainPID")
    system.sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y /root/{debs[1].name}")
    assert system.sh("dpkg-query -W -f '${Version}' cloudclaude") == UPGRADE_VERSION
    assert _active(system, "cloudclaude.service") == "active"
    assert _show(system, "cloudclaude.service", "MainPID") != pid_before
    assert system.sh("sha256sum /var/lib/cloudclaude/server.key") == key_before
    assert "login_per_user = 7" in system.sh("cat /etc/cloudclaude/cloudclaude.toml")
    assert "alice" in system.run("cloudclaudectl", "users", "list", "--json").stdout


def test_stop_drains(system: System, install_output: str) -> None:
    seen = len(_journal(system, "cloudclaude.service"))
    system.run("systemctl", "stop", "cloudclaude.service")
    stopping = _wait_for_event(system, "cloudclaude.service", "stopping", seen)
    assert stopping["reason"]
    assert _show(system, "cloudclaude.service", "Result") == "success"
    assert _show(system, "cloudclaude.service", "ExecMainStatus") == "0"
    system.run("systemctl", "start", "cloudclaude.service")


def test_remove_keeps_data_and_purge_says_where_it_stays(
    system: System, install_output: str
) -> None:
    system.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y cloudclaude")
    for unit in ("cloudclaude.service", "cloudclaude-agent.service", "cloudclaude-agent.socket"):
        assert _active(system, unit) in ("inactive", "unknown"), unit
    assert _exists(system, "/var/lib/cloudclaude/server.key")
    assert _exists(system, "/etc/cloudclaude/cloudclaude.toml")
    purged = system.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y cloudclaude")
    assert "/var/lib/cloudclaude " in purged
    assert not _exists(system, "/etc/cloudclaude")
    assert _exists(system, "/var/lib/cloudclaude/server.key")
    databases = system.sh("runuser -u postgres -- psql -tAc 'SELECT datname FROM pg_database'")
    assert "cloudclaude" in databases.split()
