"""The local CA, pins and the trusted-proxy rules, without a network."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography import x509

from cloudclaude.core import local_ca
from cloudclaude.core.settings import Settings, SettingsError, WebSettings
from cloudclaude.core.tls import ServerTls, base_url, curl_command, spki_pin
from cloudclaude.errors import CloudClaudeError
from web.forwarded import ForwardedMiddleware, via_proxy

SPEC = local_ca.LeafSpec(names=["box.example", "localhost", "127.0.0.1"], crl_url="https://x/c")


def _leaf(files: local_ca.LocalCaFiles) -> x509.Certificate:
    return x509.load_pem_x509_certificate(files.cert.read_bytes())


def test_the_leaf_is_signed_by_the_ca_and_names_the_machine(tmp_path: Path) -> None:
    files = local_ca.ensure(tmp_path / "tls", SPEC)
    leaf, ca = _leaf(files), x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert leaf.issuer == ca.subject != leaf.subject
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["box.example", "localhost"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for key in (files.key, files.ca_key):
        assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700


def test_ensure_keeps_what_exists_and_renews_a_leaf_with_the_same_key(tmp_path: Path) -> None:
    files = local_ca.ensure(tmp_path, SPEC)
    pin, serial = spki_pin(files.cert.read_bytes()), _leaf(files).serial_number
    ca_pem = files.ca_cert.read_bytes()
    local_ca.ensure(tmp_path, SPEC)
    assert _leaf(files).serial_number == serial  # nothing was due

    later = dt.datetime.now(dt.UTC) + local_ca.LEAF_LIFETIME - dt.timedelta(days=1)
    local_ca.ensure(tmp_path, SPEC, now=later)
    assert _leaf(files).serial_number != serial  # renewed before it expires...
    assert spki_pin(files.cert.read_bytes()) == pin  # ...with the key the pins name
    assert files.ca_cert.read_bytes() == ca_pem

    moved = local_ca.LeafSpec(names=[*SPEC.names, "10.9.8.7"], crl_url=SPEC.crl_url)
    local_ca.ensure(tmp_path, moved)
    sans = _leaf(files).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.9.8.7" in [str(a) for a in sans.get_values_for_type(x509.IPAddress)]
    assert spki_pin(files.cert.read_bytes()) == pin


def test_curl_commands_and_base_urls() -> None:
    assert curl_command("") == "curl -fsSL"
    assert curl_command("sha256//abc=") == "curl -fsSL -k --pinnedpubkey 'sha256//abc='"
    assert base_url(Settings(), "cc") == "https://cc:8080"
    assert base_url(Settings(web=WebSettings(tls="off")), "::1") == "http://[::1]:8080"
    public = Settings(web=WebSettings(public_url="https://cc.example.com/"))
    assert base_url(public, "ignored") == "https://cc.example.com"


@pytest.mark.parametrize(
    "fields",
    [
        {"tls_cert": "/a.pem"},
        {"tls_key": "/a.key"},
        {"public_url": "cc.example.com"},
        {"public_url": "ftp://cc.example.com"},
        {"trusted_proxies": "10.0.0.0/33"},
        {"trusted_proxies": "caddy"},
    ],
)
def test_bad_web_tls_settings_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        WebSettings(**fields)


def test_an_unreadable_operator_certificate_is_a_coded_error(tmp_path: Path) -> None:
    web = WebSettings(tls_cert=str(tmp_path / "no.pem"), tls_key=str(tmp_path / "no.key"))
    with pytest.raises(CloudClaudeError) as caught:
        ServerTls(Settings(state_dir=str(tmp_path), web=web))
    assert caught.value.error.slug == "tls_unusable"


async def _scope_after(
    headers: list[tuple[bytes, bytes]], peer: str, trusted: str, kind: str = "http"
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "client": (peer, 5555),
        "scheme": "http" if kind == "http" else "ws",
        "headers": [(b"host", b"daemon:8080"), *headers],
    }
    await ForwardedMiddleware(app, trusted)(scope, None, None)
    return seen


FORWARDED = [
    (b"x-forwarded-for", b"203.0.113.9, 198.51.100.7"),
    (b"x-forwarded-proto", b"https"),
    (b"x-forwarded-host", b"cc.example.com"),
]


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    scope = trio.run(_scope_after, FORWARDED, "198.51.100.7", "127.0.0.1")
    assert scope["client"][0] == "198.51.100.7" and scope["scheme"] == "http"
    assert (b"host", b"daemon:8080") in scope["headers"]
    assert not via_proxy(scope)


def test_a_trusted_proxy_gives_the_client_it_saw_and_is_never_loopback() -> None:
    scope = trio.run(_scope_after, FORWARDED, "127.0.0.1", "127.0.0.1, 198.51.100.0/24")
    # 198.51.100.7 is a trusted proxy too; the right-most untrusted hop is the client.
    assert scope["client"][0] == "203.0.113.9"
    assert scope["scheme"] == "https"
    assert [v for k, v in scope["headers"] if k == b"host"] == [b"cc.example.com"]
    assert via_proxy(scope)

    local_client = [(b"x-forwarded-for", b"127.0.0.1")]
    proxied = trio.run(_scope_after, local_client, "127.0.0.1", "127.0.0.1")
    assert proxied["client"][0] == "127.0.0.1" and via_proxy(proxied)  # loopback, but proxied

    socket = trio.run(_scope_after, [(b"x-forwarded-proto", b"https")], "::1", "::1", "websocket")
    assert socket["scheme"] == "wss"


def test_a_malformed_forwarded_list_names_the_proxy_itself() -> None:
    bad = [(b"x-forwarded-for", b"not-an-address, 203.0.113.9")]
    scope = trio.run(_scope_after, bad, "127.0.0.1", "127.0.0.1")
    assert scope["client"][0] == "203.0.113.9"
    worse = [(b"x-forwarded-for", b"203.0.113.9, junk")]
    scope = trio.run(_scope_after, worse, "127.0.0.1", "127.0.0.1")
    assert scope["client"][0] == "127.0.0.1"
