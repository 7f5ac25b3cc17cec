"""The web listener speaks TLS by default: the local CA, the pin, plain HTTP, headers, SIGHUP.

Every test runs the real daemon process (hypercorn with the generated certificate) and talks
to it with real clients: httpx verifying against the local CA, curl with a public-key pin,
openssl computing the pin on its own, and a raw socket speaking plain HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.certs import self_signed
from tests.integration.processes import wait_for
from tests.integration.tlsdaemon import tls_daemon


def openssl_pin(cert_pem: bytes) -> str:
    """The pin as DESIGN.md computes it with openssl, independent of the daemon's code."""
    pubkey = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"], input=cert_pem, capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"],
        input=pubkey,
        capture_output=True,
        check=True,
    ).stdout
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def served_pem(port: int) -> bytes:
    """The certificate the listener hands to a new connection (no verification)."""
    return ssl.get_server_certificate(("127.0.0.1", port)).encode()


def curl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def logged_paths(log: Path) -> list[str]:
    paths = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "http_request":
                paths.append(str(record.get("path")))
    return paths


def test_the_local_ca_signs_a_leaf_the_scripts_and_curl_pin(
    database_url: str, state_dir: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        # A client that checks names and the chain trusts the local CA's leaf for 127.0.0.1.
        health = httpx.get(f"{server.base}/healthz", verify=server.verify())
        assert health.status_code == 200
        leaf = x509.load_pem_x509_certificate(served_pem(server.port))
        ca = x509.load_pem_x509_certificate(server.ca.read_bytes())
        assert leaf.issuer == ca.subject and leaf.subject != leaf.issuer  # not self-signed
        assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        assert socket.gethostname() in sans.get_values_for_type(x509.DNSName)
        assert "127.0.0.1" in {str(a) for a in sans.get_values_for_type(x509.IPAddress)}

        pin = openssl_pin(served_pem(server.port))
        script = curl("-k", "--pinnedpubkey", pin, f"{server.base}/v1/bootstrap/script")
        assert script.returncode == 0, script.stderr
        assert f"PIN='{pin}'" in script.stdout
        assert f"SERVER='{server.base}'" in script.stdout
        assert 'curl -k --pinnedpubkey "$PIN"' in script.stdout

        # The CA and its (empty) revocation list are published where the leaf says.
        crl_point = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        full_name = crl_point[0].full_name
        assert full_name is not None and str(full_name[0].value).endswith("/tls/ca.crl")
        crl = x509.load_der_x509_crl(
            httpx.get(f"{server.base}/tls/ca.crl", verify=server.verify()).content
        )
        assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        assert len(crl) == 0
        published = httpx.get(f"{server.base}/tls/ca.pem", verify=server.verify())
        assert published.content == server.ca.read_bytes()

    # A restart keeps the CA and the leaf's key, so printed pins keep working.
    with tls_daemon(database_url, state_dir) as again:
        assert openssl_pin(served_pem(again.port)) == pin


def test_a_wrong_pin_stops_curl_before_any_byte_of_the_request(
    database_url: str, state_dir: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        body = '{"username": "nobody", "password": "a secret that must not leave"}'
        wrong = "sha256//" + base64.b64encode(hashlib.sha256(b"another key").digest()).decode()
        refused = curl(
            "-k", "--pinnedpubkey", wrong, "-H", "content-type: application/json",
            "--data-binary", "@-", f"{server.base}/v1/auth/login", stdin=body,
        )  # fmt: skip
        assert refused.returncode == 90, refused.stderr  # CURLE_SSL_PINNEDPUBKEYNOTMATCH
        pin = openssl_pin(served_pem(server.port))
        sent = curl(
            "-k", "--pinnedpubkey", pin, "-H", "content-type: application/json",
            "--data-binary", "@-", f"{server.base}/v1/auth/login", stdin=body,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "AUTH_" in sent.stdout  # the daemon got this one and refused the password
        wait_for(lambda: "/v1/auth/login" in logged_paths(server.log), 10, "the request log")
        assert logged_paths(server.log).count("/v1/auth/login") == 1  # only the pinned one


def test_plain_http_to_the_tls_port_gets_a_400_saying_https(
    database_url: str, state_dir: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        error = json.loads(body)["error"]
        assert error["code"] == "SYSTEM_024"
        assert "https://" in error["fix"]

        # curl says the same, and TLS on the same port still works afterwards.
        plain = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{server.port}/")
        assert plain.stdout == "400"
        assert httpx.get(f"{server.base}/healthz", verify=server.verify()).status_code == 200


def test_responses_carry_hsts_csp_and_secure_cookies(database_url: str, state_dir: Path) -> None:
    with tls_daemon(database_url, state_dir) as server:
        page = httpx.get(f"{server.base}/login", verify=server.verify())
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        cookies = page.headers.get_list("set-cookie")
        assert cookies and all("Secure" in cookie for cookie in cookies)
        # The pages have no inline script the policy would block.
        assert "onclick=" not in page.text and "<script>" not in page.text


def _operator_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate an operator might bring (self-signed here; only its reload matters)."""
    return self_signed(directory, name, name, [x509.DNSName("localhost")])


def test_sighup_reloads_the_operators_certificate_in_place(
    database_url: str, state_dir: Path
) -> None:
    first_cert, first_key = _operator_certificate(state_dir, "first")
    second_cert, second_key = _operator_certificate(state_dir, "second")
    live_cert, live_key = state_dir / "live.pem", state_dir / "live.key"
    live_cert.write_bytes(first_cert.read_bytes())
    live_key.write_bytes(first_key.read_bytes())
    env = {"CLOUDCLAUDE_WEB__TLS_CERT": str(live_cert), "CLOUDCLAUDE_WEB__TLS_KEY": str(live_key)}
    with tls_daemon(database_url, state_dir, env) as server:
        assert openssl_pin(served_pem(server.port)) == openssl_pin(first_cert.read_bytes())
        assert not (state_dir / "tls").exists()  # an operator's certificate needs no local CA
        pid = server.proc.pid
        with httpx.Client(verify=False) as kept:  # noqa: S501 (checks the pin, not names)
            assert kept.get(f"{server.base}/healthz").status_code == 200
            live_cert.write_bytes(second_cert.read_bytes())
            live_key.write_bytes(second_key.read_bytes())
            server.proc.send_signal(signal.SIGHUP)
            second_pin = openssl_pin(second_cert.read_bytes())
            wait_for(lambda: openssl_pin(served_pem(server.port)) == second_pin, 20, "the new cert")
            assert kept.get(f"{server.base}/healthz").status_code == 200
        assert server.proc.pid == pid and server.proc.poll() is None


def test_a_broken_certificate_on_sighup_keeps_the_old_one(
    database_url: str, state_dir: Path
) -> None:
    cert, key = _operator_certificate(state_dir, "good")
    env = {"CLOUDCLAUDE_WEB__TLS_CERT": str(cert), "CLOUDCLAUDE_WEB__TLS_KEY": str(key)}
    with tls_daemon(database_url, state_dir, env) as server:
        cert.write_text("not a certificate\n")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "tls_reload_failed" in server.log.read_text(), 20, "tls_reload_failed")
        assert server.proc.poll() is None
        assert b"BEGIN CERTIFICATE" in served_pem(server.port)


def test_metrics_answer_a_direct_loopback_peer_without_a_token(
    database_url: str, state_dir: Path
) -> None:
    with tls_daemon(database_url, state_dir) as server:
        metrics = httpx.get(f"{server.base}/metrics", verify=server.verify())
        assert metrics.status_code == 200
        assert "cloudclaude_" in metrics.text
