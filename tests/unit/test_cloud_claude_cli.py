"""The laptop CLI's offline parts: the registry copy it ships, explain, the TLS pin, the
profile files, its help, and that it imports nothing but the standard library and itself."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloudclaude.client import cli, exit_codes, profile
from cloudclaude.client.explain import lookup
from cloudclaude.client.pinning import pin_of
from cloudclaude.errors import REGISTRY
from tests.integration.certs import self_signed
from web.api.cli import zipapp

CLIENT = Path(cli.__file__).parent


def test_the_shipped_registry_is_the_registry() -> None:
    shipped = json.loads((CLIENT / "registry.json").read_text())
    live = [
        {
            "code": e.code,
            "slug": e.slug,
            "http_status": e.http_status,
            "exit_code": e.exit_code,
            "message": e.message,
            "cause": e.cause,
            "fix": e.fix,
        }
        for e in REGISTRY
    ]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        text = json.dumps(live, indent=1, sort_keys=True) + "\n"
        (CLIENT / "registry.json").write_text(text)
        shipped = live
    assert shipped == live, "regenerate: UPDATE_GOLDEN=1 pytest tests/unit/test_cloud_claude_cli.py"


def test_explain_covers_every_code_and_slug(capsys: pytest.CaptureFixture[str]) -> None:
    for entry in REGISTRY:
        assert cli.main(["explain", entry.code]) == exit_codes.OK
        out = capsys.readouterr().out
        assert out.startswith(f"{entry.code} {entry.slug}") and entry.fix in out
        found = lookup(entry.slug)
        assert found is not None and found["code"] == entry.code


def test_an_unknown_code_has_its_own_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "AUTH_999"]) == exit_codes.UNKNOWN_CODE
    assert "not a code of the error registry" in capsys.readouterr().err


def test_the_pin_is_curls_pin_of_the_public_key(tmp_path: Path) -> None:
    cert_path, _ = self_signed(tmp_path, "t", "t", [x509.DNSName("example.test")])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert pin_of(cert.public_bytes(serialization.Encoding.DER)) == expected


def test_the_profile_and_token_are_for_the_user_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("CLOUD_CLAUDE_SERVER", raising=False)
    profile.save(profile.Profile(server="https://a.example:8080", tls_pin="sha256//x"))
    profile.save_token("secret-token")
    directory = tmp_path / "cloud-claude"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("config.json", "token"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert profile.token() == "secret-token"
    loaded = profile.load()
    assert loaded is not None and loaded.server == "https://a.example:8080"
    monkeypatch.setenv("CLOUD_CLAUDE_SERVER", "https://b.example:8080")
    assert profile.load() is None  # signed in to another server
    profile.forget_token()
    assert profile.token() == ""


def test_help_lists_every_command_and_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in text
    for status in exit_codes.DESCRIPTIONS:
        assert f"  {status}  " in text


def test_without_a_profile_a_command_says_to_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cli.main(["ls"]) == exit_codes.SIGNED_OUT
    assert "cloud-claude login" in capsys.readouterr().err


def test_the_client_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"cloudclaude"}
    for path in CLIENT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
                if name.startswith("cloudclaude"):
                    assert name.startswith("cloudclaude.client"), f"{path.name} imports {name}"


def test_the_zipapp_holds_the_client_and_nothing_of_the_daemon() -> None:
    data = zipapp()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"__main__.py", "cloudclaude/__init__.py", "cloudclaude/client/cli.py"} <= names
    assert "cloudclaude/client/registry.json" in names
    assert all(
        n in ("__main__.py", "cloudclaude/__init__.py") or n.startswith("cloudclaude/client/")
        for n in names
    )
