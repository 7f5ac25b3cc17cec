"""Caddy in front of the daemon: TLS ends at the proxy, the daemon speaks plain HTTP behind it.

Debian's Caddy (2.6) serves ``https://127.0.0.1:<port>`` with a certificate from its internal CA
(``tls internal``, issued offline) and relays to the daemon run with ``web.tls = "off"``,
``web.public_url`` set to Caddy's address and ``web.trusted_proxies = 127.0.0.1`` (Caddy dials
the daemon from 127.0.0.1). Caddy keeps everything in a temporary directory: no admin endpoint,
no system trust store, nothing bound beyond 127.0.0.1. Clients verify Caddy with its root
certificate, as a browser trusting that CA would.

Clients on this machine use other loopback addresses as their source (127.0.0.2 straight to the
daemon, 127.0.0.3 through Caddy), so each test can tell which address the daemon believed: the
one Caddy saw, and never one a client wrote into X-Forwarded-For itself.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from tests.integration.processes import ctl, free_port, stop, wait_for
from tests.integration.tlsdaemon import RunningDaemon, plain_daemon

CADDY = "/usr/bin/caddy"
PSQL = "/usr/lib/postgresql/15/bin/psql"
#: Where clients come from: straight to the daemon, and through Caddy.
DIRECT_CLIENT = "127.0.0.2"
PROXIED_CLIENT = "127.0.0.3"
#: Login attempts per source address and window (``rate_limits.login_per_address``).
LOGIN_LIMIT = 5


@attrs.frozen
class Caddy:
    proc: subprocess.Popen[bytes]
    port: int
    data: Path
    log: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def root_ca(self) -> Path:
        """Caddy's internal root certificate (``tls internal``)."""
        return self.data / "pki" / "authorities" / "local" / "root.crt"

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_ca))


def caddyfile(port: int, http_port: int, upstream: int, data: Path) -> str:
    return textwrap.dedent(
        f"""\
        {{
            admin off
            skip_install_trust
            storage file_system {data}
            default_bind 127.0.0.1
            http_port {http_port}
            https_port {port}
            auto_https disable_redirects
            ocsp_stapling off
        }}

        https://127.0.0.1:{port}, https://localhost:{port} {{
            tls internal
            reverse_proxy 127.0.0.1:{upstream}
        }}
        """
    )


@contextmanager
def caddy_front(upstream: int, port: int, root: Path) -> Iterator[Caddy]:
    """Caddy on 127.0.0.1:``port`` relaying to 127.0.0.1:``upstream``; stopped on the way out."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    config = root / "Caddyfile"
    config.write_text(caddyfile(port, free_port(), upstream, data))
    log = root / "caddy.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_DATA_HOME": str(root / "xdg-data"),
        "XDG_CONFIG_HOME": str(root / "xdg-config"),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        front = Caddy(proc, port, data, log)

        def ready() -> bool:
            if proc.poll() is not None:
                return True
            if not front.root_ca.exists():
                return False
            try:
                reply = httpx.get(f"{front.base}/healthz", verify=front.verify(), timeout=2)
            except (httpx.HTTPError, ssl.SSLError):
                return False
            return reply.status_code == 200

        try:
            wait_for(ready, 60, "/healthz through Caddy")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; Caddy's log:\n{log.read_text()[-3000:]}") from exc
        assert proc.poll() is None, log.read_text()[-3000:]
        yield front
    finally:
        stop(proc)


@attrs.frozen
class Front:
    caddy: Caddy
    daemon: RunningDaemon

    def via_caddy(self) -> httpx.Client:
        """A client reaching the daemon through Caddy, from ``PROXIED_CLIENT``."""
        transport = httpx.HTTPTransport(verify=self.caddy.verify(), local_address=PROXIED_CLIENT)
        return httpx.Client(base_url=self.caddy.base, transport=transport, timeout=30)

    def direct(self, source: str = DIRECT_CLIENT) -> httpx.Client:
        """A client speaking plain HTTP straight to the daemon's loopback port, from ``source``."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.daemon.base, transport=transport, timeout=30)

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        """The daemon's ``http_request`` log records for ``path`` so far."""
        found = []
        for line in self.daemon.log.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "http_request" and record.get("path") == path:
                    found.append(record)
        return found

    def logged(self, path: str, count: int) -> list[dict[str, Any]]:
        """The log records of ``path`` once ``count`` of them have been written."""
        wait_for(lambda: len(self.requests_to(path)) >= count, 20, f"{count} x {path} logged")
        return self.requests_to(path)


@pytest.fixture
def front(database_url: str, state_dir: Path, tmp_path: Path) -> Iterator[Front]:
    caddy_port = free_port()
    env = {
        "CLOUDCLAUDE_WEB__PUBLIC_URL": f"https://127.0.0.1:{caddy_port}",
        "CLOUDCLAUDE_WEB__TRUSTED_PROXIES": "127.0.0.1",
        "CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_ADDRESS": str(LOGIN_LIMIT),
    }
    with (
        plain_daemon(database_url, state_dir, env) as server,
        caddy_front(server.port, caddy_port, tmp_path / "caddy") as caddy,
    ):
        yield Front(caddy, server)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def add_user(server: RunningDaemon, name: str, password: str) -> None:
    added = ctl(server.ctl_socket, "users", "add", name, "--password-stdin", stdin=password + "\n")
    assert added.returncode == 0, added.stdout + added.stderr


def give_stopped_host(database_url: str, username: str, short_id: str) -> None:
    """A host row for ``username`` as if its box had been made and stopped. It has no exit, so
    its start task fails with a fixed code before any box is touched: enough to follow the
    task through the proxy without dockerd."""
    sql = (
        "INSERT INTO hosts (short_id, user_id, status, box_public_key)"
        f" SELECT '{short_id}', id, 'stopped', 'ssh-ed25519 AAAA test'"
        f" FROM users WHERE username = '{username}'"
    )
    done = subprocess.run(
        [PSQL, "-v", "ON_ERROR_STOP=1", "-qAt", database_url, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_bootstrap_flow_goes_through_caddy(front: Front, database_url: str) -> None:
    name, password = f"carol{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    add_user(front.daemon, name, password)
    login = {"username": name, "password": password}
    with front.via_caddy() as client:
        # The script names Caddy's address and carries no pin: the client checks Caddy's
        # certificate with its CA, and the daemon's own key is not what it sees.
        script = client.get("/v1/bootstrap/script")
        assert script.status_code == 200, script.text
        assert f"SERVER='{front.caddy.base}'" in script.text
        assert "PIN=''" in script.text
        assert "sha256//" not in script.text

        wrong = client.post("/v1/bootstrap/sessions", data={**login, "password": "no"})
        assert wrong.status_code == 401 and error_code(wrong) == "AUTH_001", wrong.text

        # The right password signs in; without a host that is a coded answer, also in the
        # form the script reads (``key value`` lines).
        no_host = client.post("/v1/bootstrap/sessions", data=login)
        assert no_host.status_code == 404, no_host.text
        assert error_code(no_host) == "STATE_005"  # host_not_found
        as_sh = client.post("/v1/bootstrap/sessions?format=sh", data=login)
        assert "error_code STATE_005\n" in as_sh.text

        # With a (stopped) host the session starts it and hands out a task and a token that
        # follow it, through Caddy as well.
        give_stopped_host(database_url, name, f"c{secrets.token_hex(4)}")
        session = client.post("/v1/bootstrap/sessions", data=login)
        assert session.status_code == 201, session.text
        task_id, token = session.json()["task_id"], session.json()["token"]
        assert client.get(f"/v1/bootstrap/tasks/{task_id}").status_code == 401  # no token

        headers = {"Authorization": f"Bearer {token}"}

        seen: list[httpx.Response] = []

        def settled() -> bool:
            seen.append(client.get(f"/v1/bootstrap/tasks/{task_id}?wait_s=5", headers=headers))
            return seen[-1].status_code != 200 or seen[-1].json()["status"] == "succeeded"

        wait_for(settled, 120, "the start task to end")
        for polled in seen[:-1]:  # while it ran: its stages, as the script reads them
            assert polled.status_code == 200, polled.text
            assert polled.json()["status"] in ("queued", "running"), polled.text
        # The host has no exit bound to it, so its start fails before any box is touched; the
        # script gets that code through the proxy intact.
        ended = seen[-1]
        assert ended.status_code == 409, ended.text
        assert error_code(ended) == "NET_001", ended.text  # egress_binding_missing
        # The bootstrap token does the bootstrap steps, and not the rest of the API (refused:
        # 401 or 403, whichever the token's scope check answers).
        assert client.get("/v1/me", headers=headers).status_code in (401, 403)

    # Every one of these reached the daemon from Caddy, on behalf of the proxied client.
    sessions = front.logged("/v1/bootstrap/sessions", 4)
    assert [r["status"] for r in sessions] == [401, 404, 404, 201]
    assert {r["remote"] for r in sessions} == {PROXIED_CLIENT}
    assert [r["remote"] for r in front.logged("/v1/bootstrap/script", 1)] == [PROXIED_CLIENT]
    polls = front.logged(f"/v1/bootstrap/tasks/{task_id}", len(seen) + 1)
    assert {r["remote"] for r in polls} == {PROXIED_CLIENT}


def test_metrics_through_caddy_are_forbidden_but_direct_loopback_sees_them(
    front: Front,
) -> None:
    with front.via_caddy() as client:
        relayed = client.get("/metrics")
    assert relayed.status_code == 403, relayed.text
    assert error_code(relayed) == "SYSTEM_010"  # metrics_forbidden
    # The proxy itself is 127.0.0.1, yet a relayed request never counts as loopback, whatever
    # address the client claims.
    with front.via_caddy() as client:
        claimed = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert claimed.status_code == 403

    with front.direct() as client:
        direct = client.get("/metrics")
    assert direct.status_code == 200, direct.text
    assert "cloudclaude_" in direct.text


def test_healthz_through_caddy_shows_only_the_status(front: Front) -> None:
    with front.via_caddy() as client:
        relayed = client.get("/healthz")
    assert relayed.status_code == 200
    assert relayed.json() == {"status": "ok"}

    with front.direct() as client:
        direct = client.get("/healthz")
    assert direct.status_code == 200
    details = direct.json()
    assert details["status"] == "ok"
    assert set(details) > {"status"}, details


def test_forwarded_for_counts_only_from_the_trusted_proxy(front: Front) -> None:
    spoofed = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    with front.direct() as client:
        client.get("/v1/bootstrap/script", headers=spoofed)
        # The per-address login limit counts the real peer, whatever address it claims.
        codes = []
        for n in range(LOGIN_LIMIT + 1):
            claimed = {"X-Forwarded-For": f"198.51.100.{n + 10}"}
            body = {"username": f"nobody{n}", "password": "wrong"}
            codes.append(error_code(client.post("/v1/auth/login", json=body, headers=claimed)))
    assert codes == ["AUTH_001"] * LOGIN_LIMIT + ["AUTH_007"]  # then rate_limited

    # Through Caddy, the daemon sees the address Caddy saw: another client, not limited. Caddy
    # replaces whatever X-Forwarded-For the client sent with the address it saw.
    with front.via_caddy() as client:
        relayed = client.post(
            "/v1/auth/login",
            json={"username": "nobody9", "password": "wrong"},
            headers={"X-Forwarded-For": DIRECT_CLIENT},
        )
    assert error_code(relayed) == "AUTH_001", relayed.text

    assert [r["remote"] for r in front.logged("/v1/bootstrap/script", 1)] == [DIRECT_CLIENT]
    logins = front.logged("/v1/auth/login", LOGIN_LIMIT + 2)
    assert [r["remote"] for r in logins] == [DIRECT_CLIENT] * (LOGIN_LIMIT + 1) + [PROXIED_CLIENT]
    assert [r["status"] for r in logins] == [401] * LOGIN_LIMIT + [429, 401]


def test_pages_through_caddy_get_hsts_and_secure_cookies(front: Front) -> None:
    with front.via_caddy() as client:
        page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["strict-transport-security"].startswith("max-age=")
    cookies = page.headers.get_list("set-cookie")
    assert cookies and all("Secure" in cookie for cookie in cookies)

    # Plain HTTP straight to the daemon is not https, and a client cannot claim it is.
    with front.direct() as client:
        plain = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers
