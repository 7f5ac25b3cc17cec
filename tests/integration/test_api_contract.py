"""The live daemon keeps the contract it publishes: schemathesis 4 over TLS, 0 failures.

The real daemon process (hypercorn with its local CA, real Postgres) serves
``/v1/openapi.json``; ``st run`` reads it from there, checks its certificate against the local
CA and sends generated requests (valid and invalid) as an admin, then as a user. Every answer
must be no 5xx, a declared status, a declared content type and a body matching its schema.

``make test`` sends a few examples per operation; ``make fuzz`` sets
``API_FUZZ_EXAMPLES`` for a longer run of the same test. Bugs it found and that were fixed:
an ``offset`` past Postgres' bigint (500), a JSON body that is not UTF-8 on the bootstrap and
entry forms (500), a NUL in an exit reference reaching Postgres (500), undeclared statuses.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from cloudclaude.errors import REGISTRY
from tests.integration.processes import BIN, ctl
from tests.integration.tlsdaemon import RunningDaemon, tls_daemon

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
SEED = 19
ROOT = Path(__file__).resolve().parents[2]
#: Streams never end (a request would wait out its timeout), and signing out would end the
#: token the run signs in with: both are left out of the generated requests.
SKIPPED = r"/sse$|/auth/logout$"
#: The routes a user calls as themselves.
MINE = r"^/v1/(user/|me$|auth/)"


def _account(server: RunningDaemon, name: str, role: str) -> str:
    """A bearer token for a new account (``max_hosts`` 0: a fuzzed create never makes a box)."""
    password = f"{name}-password-123"
    added = ctl(
        server.ctl_socket,
        *("users", "add", name, "--role", role, "--max-hosts", "0", "--password-stdin"),
        stdin=password + "\n",
    )
    assert added.returncode == 0, added.stderr
    login = httpx.post(
        f"{server.base}/v1/auth/login",
        json={"username": name, "password": password},
        verify=server.verify(),
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


def _own_id(server: RunningDaemon, token: str) -> str:
    me = httpx.get(f"{server.base}/v1/me", headers=_bearer(token), verify=server.verify())
    assert me.status_code == 200, me.text
    user_id: str = me.json()["id"]
    return user_id


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def schemathesis(
    server: RunningDaemon, token: str, report: Path, *filters: str
) -> subprocess.CompletedProcess[str]:
    """``st run`` against the daemon's own document, as the owner of ``token`` (whose account
    the run leaves alone: ``contract_hooks``)."""
    hooks = {
        "SCHEMATHESIS_HOOKS": "tests.integration.contract_hooks",
        "CONTRACT_PROTECTED_IDS": _own_id(server, token),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [
            str(BIN / "st"),
            "run",
            f"{server.base}/v1/openapi.json",
            f"--checks={CHECKS}",
            f"--tls-verify={server.ca}",
            f"--header=Authorization: Bearer {token}",
            f"--max-examples={EXAMPLES}",
            f"--seed={SEED}",
            "--phases=coverage,fuzzing",
            "--workers=2",
            "--request-timeout=30",
            f"--exclude-path-regex={SKIPPED}",
            f"--report-junit-path={report}",
            "--report=junit",
            *filters,
        ],
        capture_output=True,
        text=True,
        timeout=max(600, EXAMPLES * 10),
        check=False,
        env={**os.environ, **hooks},
        cwd=ROOT,
    )


def _unhandled(server: RunningDaemon) -> str:
    """The daemon's logged tracebacks (what a 500 was), for the failure message."""
    lines = server.log.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if "unhandled_error" in line)[-8000:]


def _assert_clean(
    server: RunningDaemon, run: subprocess.CompletedProcess[str], report: Path, operations: int
) -> None:
    """0 failures, and at least ``operations`` operations tested (never a vacuous pass)."""
    found = run.stdout + run.stderr
    # The failures, each with its curl line, and what the daemon logged for any 500.
    start = found.find("FAILURES")
    out = found[start if start >= 0 else 0 :][:20000] + "\n" + _unhandled(server)
    assert run.returncode == 0, out
    junit = report.read_text()
    assert 'failures="0"' in junit and 'errors="0"' in junit, out[-6000:]
    tested = re.search(r'<testsuite [^>]*tests="(\d+)"', junit)
    assert tested is not None and int(tested.group(1)) >= operations, junit[:500]


def _assert_reference_page(server: RunningDaemon, document: dict[str, Any]) -> None:
    """``/docs/api`` renders the same document, from this server only, linked from the pages."""
    page = httpx.get(f"{server.base}/docs/api", verify=server.verify())
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert f'id="{op["operationId"]}"' in html, (method, path)
            assert f"{method.upper()} {path}" in html
    for row in REGISTRY:
        assert f'id="code-{row.code}"' in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", html)  # no CDN
    anchors = set(re.findall(r'id="([^"]+)"', html))
    dead = {link for link in re.findall(r'href="#([^"]+)"', html) if link not in anchors}
    assert not dead, sorted(dead)
    login = httpx.get(f"{server.base}/login", verify=server.verify())
    assert 'href="/docs/api"' in login.text


def test_the_daemon_keeps_its_openapi_contract(
    database_url: str, state_dir: Path, tmp_path: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        document = httpx.get(f"{server.base}/v1/openapi.json", verify=server.verify())
        assert document.status_code == 200
        assert document.headers["content-type"].startswith("application/json")
        validate(json.loads(document.text))
        _assert_reference_page(server, json.loads(document.text))
        admin = _account(server, "contract-admin", "admin")

        as_admin = schemathesis(server, admin, tmp_path / "admin.xml")
        _assert_clean(server, as_admin, tmp_path / "admin.xml", operations=50)
        # Made only now: the admin run reuses ids it read (it may disable or delete anyone).
        user = _account(server, "contract-user", "user")
        # A user's own routes (the admin ones are refused alike: 403, declared on each).
        as_user = schemathesis(server, user, tmp_path / "user.xml", f"--include-path-regex={MINE}")
        _assert_clean(server, as_user, tmp_path / "user.xml", operations=10)
        assert server.proc.poll() is None, server.log.read_text()[-3000:]
