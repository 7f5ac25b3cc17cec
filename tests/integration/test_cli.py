"""The ``cloudclaude`` command line: config validation and argument errors exit 2 with a code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.integration.processes import BIN


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cloudclaude"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text("[web]\nport = 9000\n[rate_limits]\nlogin_per_user = 3\n")
    result = _run("config", "check", str(config))
    assert result.returncode == 0
    assert "port 9000" in result.stdout


def test_config_check_names_a_mistyped_key(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[web]\nportt = 9000\n")
    result = _run("config", "check", str(config))
    assert result.returncode == 2
    assert "web.portt" in result.stderr
    assert "did you mean 'port'" in result.stderr
    assert "SYSTEM_007" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_refuses_an_unknown_environment_variable() -> None:
    result = _run("run", env={"CLOUDCLAUDE_WEB__PROT": "1"})
    assert result.returncode == 2
    assert "CLOUDCLAUDE_WEB__PROT" in result.stderr


def test_run_refuses_a_wrong_type(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[supervisor]\ngrace_s = "soon"\n')
    result = _run("run", "--config", str(config))
    assert result.returncode == 2
    assert "supervisor.grace_s" in result.stderr


def test_run_without_database_url_explains_what_to_do() -> None:
    dev = {"CLOUDCLAUDE_AGENT__MODE": "embedded"}
    result = _run("run", env={"CLOUDCLAUDE_DATABASE__URL": "", **dev})
    assert result.returncode == 2
    assert "cloudclaude up" in result.stderr


def test_run_refuses_root_unless_the_agent_is_embedded_for_development() -> None:
    assert os.geteuid() == 0  # the suite runs as root, as CI does
    refused = _run("run", env={"CLOUDCLAUDE_DATABASE__URL": "postgresql:///nowhere"})
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error SYSTEM_016 runs_as_root:"), lines
    assert "user cloudclaude" in lines[0]
    socket_mode = {"CLOUDCLAUDE_AGENT__MODE": "socket", "CLOUDCLAUDE_DATABASE__URL": ""}
    assert "SYSTEM_016" in _run("run", env=socket_mode).stderr
    embedded = _run(
        "run", env={"CLOUDCLAUDE_AGENT__MODE": "embedded", "CLOUDCLAUDE_DATABASE__URL": ""}
    )
    assert "SYSTEM_016" not in embedded.stderr and "database.url" in embedded.stderr


def test_bad_arguments_exit_2() -> None:
    assert _run("frobnicate").returncode == 2
    result = subprocess.run(
        [str(BIN / "cloudclaudectl"), "users", "add"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
