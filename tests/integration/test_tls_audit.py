"""An outside TLS audit: testssl.sh against the live daemon finds nothing high or critical.

The daemon serves its default listener (a leaf from the local CA in ``<state_dir>/tls``);
testssl (Debian testssl.sh 3.0.8) trusts that CA through ``--add-ca`` and runs its default set
of checks: protocols, ciphers, server preferences and defaults (the certificate), headers and
the known vulnerabilities. It never phones out (no ``--phone-out``) and looks up no names
(``--nodns none``), so every byte it sends goes to the daemon on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.tlsdaemon import tls_daemon

TESTSSL = "/usr/bin/testssl"
#: testssl's severities, lowest first; the audit fails on the last two.
FAILING = {"HIGH", "CRITICAL"}


def run_testssl(target: str, ca: Path, out: Path) -> list[dict[str, Any]]:
    """Run testssl's default checks on ``target``; its findings as the flat JSON list."""
    report = out / "testssl.json"
    env = {**os.environ, "TERM": "dumb"}
    env.pop("COLUMNS", None)
    options = {
        "--warnings": "off",
        "--color": "0",
        "--nodns": "none",
        "--add-ca": str(ca),
        "--jsonfile": str(report),
    }
    done = subprocess.run(
        [TESTSSL, "--quiet", *(word for pair in options.items() for word in pair), target],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
        cwd=out,
    )
    # testssl's exit code counts findings of any kind; only a missing report is a failed run.
    assert report.exists(), f"testssl wrote no report ({done.returncode}):\n{done.stdout[-4000:]}"
    findings: list[dict[str, Any]] = json.loads(report.read_text())
    assert not any(f.get("id") == "scanProblem" for f in findings), done.stdout[-4000:]
    return findings


def test_testssl_finds_nothing_high_or_critical(
    database_url: str, state_dir: Path, tmp_path: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        findings = run_testssl(server.base, server.ca, tmp_path)

    by_id = {str(f.get("id")): f for f in findings}
    # The run really covered the certificate, protocols, ciphers and vulnerabilities.
    for expected in ("cert_chain_of_trust", "TLS1_2", "TLS1_3", "cipherlist_NULL", "heartbleed"):
        assert expected in by_id, f"testssl did not report {expected}: {sorted(by_id)}"
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    # What testssl rated at all (shown with ``pytest -s``; the audit fails on high or critical).
    for finding in findings:
        if str(finding.get("severity")) not in ("OK", "INFO", "DEBUG"):
            print(f"{finding.get('severity')} {finding.get('id')}: {finding.get('finding')}")
    bad = [f for f in findings if str(f.get("severity")) in FAILING]
    assert not bad, "testssl rates these high or critical:\n" + "\n".join(
        f"{f.get('severity')} {f.get('id')}: {f.get('finding')}" for f in bad
    )
