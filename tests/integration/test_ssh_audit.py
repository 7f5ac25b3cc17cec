"""The SSH proxy's algorithms pass ``ssh-audit``, and Debian's OpenSSH client still gets in.

The proxy offers every cipher the policy allows here (``ssh.ciphers`` is a subset of it), so
the audit covers everything any configuration could offer. The connection-rate test is
skipped: it is about throttling unauthenticated connections, not algorithms.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from cloudclaude.core.settings import Settings
from cloudclaude.db.pool import Database
from cloudclaude.sshproxy import algorithms
from tests.integration.netsim import SimInternet
from tests.integration.sshstack import SshStack, open_ssh_stack


def ssh_audit_path() -> str:
    beside = Path(sys.executable).parent / "ssh-audit"
    found = str(beside) if beside.exists() else shutil.which("ssh-audit")
    assert found, "ssh-audit is not installed (pip install -e '.[test]')"
    return found


@pytest.fixture
async def audited_stack(
    settings: Settings,
    db: Database,
    boxes_state: Path,
    box_image: str,
    tmp_path: Path,
    sim_internet: SimInternet,
) -> AsyncIterator[SshStack]:
    ssh = attrs.evolve(settings.ssh, ciphers=",".join(algorithms.CIPHERS))
    async for value in open_ssh_stack(attrs.evolve(settings, ssh=ssh), db, boxes_state, tmp_path):
        yield value


def findings(report: dict[str, Any], level: str) -> list[str]:
    return [
        f"{section} {alg['algorithm']}: {'; '.join(alg['notes'][level])}"
        for section in ("kex", "key", "enc", "mac")
        for alg in report.get(section, [])
        if alg.get("notes", {}).get(level)
    ]


async def test_ssh_audit_reports_no_failures(audited_stack: SshStack) -> None:
    argv = [ssh_audit_path(), "-j", "--skip-rate-test", "-t", "20"]
    argv += ["-p", str(audited_stack.proxy.port), "127.0.0.1"]
    with trio.fail_after(120):
        done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    report = json.loads(done.stdout)
    fails, warns = findings(report, "fail"), findings(report, "warn")
    assert not fails, f"failures: {fails}; warnings: {warns}"
    assert not report["cves"], report["cves"]
    offered = {sec: [alg["algorithm"] for alg in report[sec]] for sec in ("kex", "enc")}
    assert "chacha20-poly1305@openssh.com" in offered["enc"]
    assert "mlkem768x25519-sha256" in offered["kex"]
    assert report["compression"] == ["none"]
    # The one known warning: X25519 alone is not post-quantum (kept for OpenSSH < 9.9).
    assert warns == [
        "kex curve25519-sha256: does not provide protection against post-quantum attacks"
    ], warns


@pytest.mark.parametrize("extra", [[], ["-o", "Ciphers=chacha20-poly1305@openssh.com"]])
async def test_openssh_client_connects_under_the_policy(
    audited_stack: SshStack, extra: list[str]
) -> None:
    user = await audited_stack.user_with_host()
    client = audited_stack.client
    done = await client.run(audited_stack.ssh(user, "echo ok", extra=["-v", *extra]))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n"
    assert b"kex: algorithm: curve25519-sha256" in done.stderr, done.stderr
    if extra:
        assert b"cipher: chacha20-poly1305@openssh.com" in done.stderr, done.stderr
