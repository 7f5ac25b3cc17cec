"""Exit settings per kind (cloudclaude/domain/exit_schema.py), masks and the ExitSpec they make."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from cloudclaude.domain.exit_schema import KINDS, merge_fields, parse_exit
from cloudclaude.domain.exits import exit_spec
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.exits import Exit, mask
from cloudclaude.model.views import exit_view

UUID = "0d8a0a4e-5c1f-4f33-9a55-3d1e2f4b6c7d"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PROXY = {
    "server": "exit.example.net",
    "port": 1080,
    "expected_ip": "198.18.0.10",
    "dns_server": "198.18.0.53",
    "verify_url": "http://198.18.0.80/ip",
}
VALID: dict[str, dict[str, Any]] = {
    "direct": {"dns_server": "198.18.0.53"},
    "socks5": {**PROXY, "username": "u", "password": "socks-secret"},
    "http": {**PROXY, "username": "u", "password": "p", "tls": True, "tls_certificate": PEM},
    "shadowsocks": {**PROXY, "method": "aes-256-gcm", "password": "ss-secret-1"},
    "vmess": {**PROXY, "uuid": UUID, "security": "auto", "alter_id": 0, "tls": False},
    "vless": {**PROXY, "uuid": UUID, "flow": "xtls-rprx-vision", "tls": True},
    "trojan": {**PROXY, "password": "trojan-pw", "tls_server_name": "exit.example.net"},
}


def _body(exit_kind: str, **changes: Any) -> dict[str, Any]:
    """A valid body of ``exit_kind`` with ``changes``; a value of ``...`` leaves the field out."""
    body = {"label": f"exit-{exit_kind}", "kind": exit_kind, **VALID[exit_kind], **changes}
    return {k: v for k, v in body.items() if v is not ...}


def _refused(body: dict[str, Any], stored: frozenset[str] = frozenset()) -> CloudClaudeError:
    with pytest.raises(CloudClaudeError) as caught:
        parse_exit(body, stored=stored)
    assert caught.value.error.code == "NET_008"
    return caught.value


def test_the_samples_cover_every_kind() -> None:
    assert set(VALID) == set(KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_accepts_its_fields(kind: str) -> None:
    cfg = parse_exit(_body(kind))
    assert cfg.kind == kind and cfg.label == f"exit-{kind}"
    assert set(cfg.secrets) == {k for k in ("password", "uuid") if k in VALID[kind]}
    assert not set(cfg.options) & {"password", "uuid"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_unknown_field_is_refused_by_name(kind: str) -> None:
    error = _refused(_body(kind, passwrd="x"))
    assert error.extra["field"] == "passwrd" and "passwrd" in str(error.detail)


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("socks5", "method"),  # a field of another kind
        ("trojan", "tls"),  # trojan is always TLS: no switch
        ("vmess", "flow"),
        ("vless", "alter_id"),
        ("shadowsocks", "username"),
        ("direct", "password"),
    ],
)
def test_a_field_of_another_kind_is_refused(kind: str, field: str) -> None:
    assert _refused(_body(kind, **{field: "x"})).extra["field"] == field


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("shadowsocks", "method"),
        ("shadowsocks", "password"),
        ("vmess", "uuid"),
        ("vless", "uuid"),
        ("trojan", "password"),
        ("socks5", "server"),
        ("http", "port"),
        ("socks5", "expected_ip"),
        ("direct", "dns_server"),
        ("direct", "label"),
        ("direct", "kind"),
    ],
)
def test_a_missing_required_field_is_named(kind: str, field: str) -> None:
    assert _refused(_body(kind, **{field: ...})).extra["field"] == field


@pytest.mark.parametrize("field", ["server", "port"])
def test_direct_takes_no_server(field: str) -> None:
    value = "198.18.0.1" if field == "server" else 1080
    assert _refused(_body("direct", **{field: value})).extra["field"] == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expected_ip", "198.18.0.300"),
        ("expected_ip", "0.0.0.0"),
        ("dns_server", "not-an-ip"),
        ("dns_server", "2001:db8::53"),
        ("server", "2001:db8::1"),
        ("server", "bad host!"),
        ("port", 0),
        ("port", 65536),
        ("port", "1080"),
        ("port", True),
        ("verify_url", "ftp://198.18.0.80/"),
        ("verify_url", "http:///nohost"),
        ("verify_url", "http://u:p@198.18.0.80/"),
        ("verify_url", "http://198.18.0.80:99999/"),
        ("verify_dns_name", "not a name"),
        ("expected_resolvers", "198.18.0.53"),
        ("expected_resolvers", []),
        ("expected_resolvers", ["198.18.0.53", "nope"]),
        ("label", "has space"),
        ("label", "x" * 65),
        ("label", UUID),
        ("label", 7),
        ("kind", "wireguard"),
    ],
)
def test_bad_values_are_refused_by_name(field: str, value: Any) -> None:
    assert _refused(_body("socks5", **{field: value})).extra["field"] == field


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("shadowsocks", "method", "rc4-md5"),
        ("shadowsocks", "password", "\x00"),
        ("vmess", "uuid", "not-a-uuid"),
        ("vmess", "alter_id", -1),
        ("vmess", "security", "rot13"),
        ("vless", "flow", "xtls-rprx-direct"),
        ("vless", "tls", "yes"),
        ("http", "tls_certificate", "not a pem"),
        ("trojan", "tls_server_name", "bad name!"),
        ("socks5", "password", 12345678),
    ],
)
def test_bad_kind_options_are_refused_by_name(kind: str, field: str, value: Any) -> None:
    assert _refused(_body(kind, **{field: value})).extra["field"] == field


def test_tls_options_need_tls_on() -> None:
    error = _refused(_body("vmess", tls=False, tls_server_name="exit.example.net"))
    assert error.extra["field"] == "tls_server_name"


def test_a_password_needs_a_username() -> None:
    assert _refused(_body("socks5", username=...)).extra["field"] == "username"


def test_shadowsocks_2022_takes_a_base64_key_of_its_size() -> None:
    key16 = base64.b64encode(bytes(16)).decode()
    ok = parse_exit(_body("shadowsocks", method="2022-blake3-aes-128-gcm", password=key16))
    assert ok.secrets["password"] == key16
    error = _refused(_body("shadowsocks", method="2022-blake3-aes-256-gcm", password=key16))
    assert error.extra["field"] == "password"


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "direct"])
def test_a_proxy_exit_needs_a_verification_endpoint(kind: str) -> None:
    assert _refused(_body(kind, verify_url=...)).extra["field"] == "verify_url"
    assert parse_exit(_body(kind, verify_url=..., verify_dns_name="whoami.test")).verify_url is None


def test_direct_may_be_unverified_but_verify_url_needs_expected_ip() -> None:
    cfg = parse_exit(_body("direct"))
    assert cfg.expected_ip is None and cfg.verify_url is None and cfg.verify_dns_name is None
    error = _refused(_body("direct", verify_url="http://198.18.0.80/"))
    assert error.extra["field"] == "expected_ip"


def test_values_are_normalised() -> None:
    cfg = parse_exit(
        _body(
            "vless",
            server="Exit.Example.NET.",
            uuid=UUID.upper(),
            expected_resolvers=["198.18.0.53", "198.18.0.53", "198.18.0.10"],
        )
    )
    assert cfg.server == "exit.example.net"
    assert cfg.secrets["uuid"] == UUID
    assert cfg.expected_resolvers == ("198.18.0.53", "198.18.0.10")


def test_null_is_absent() -> None:
    cfg = parse_exit(_body("socks5", username=None, password=None, verify_dns_name=None))
    assert cfg.options == {} and cfg.secrets == {}


def test_a_secret_left_out_or_masked_is_kept_when_stored() -> None:
    stored = frozenset({"password"})
    omitted = parse_exit(_body("trojan", password=...), stored=stored)
    assert omitted.secrets == {} and omitted.kept == {"password"}
    masked = parse_exit(_body("trojan", password=mask("trojan-pw")), stored=stored)
    assert masked.secrets == {} and masked.kept == {"password"}
    assert _refused(_body("trojan", password="••••pw")).extra["field"] == "password"
    assert _refused(_body("trojan", password="")).extra["field"] == "password"


def test_an_empty_optional_secret_clears_it() -> None:
    cfg = parse_exit(_body("socks5", password=""), stored=frozenset({"password"}))
    assert cfg.secrets == {"password": ""} and cfg.kept == frozenset()


def test_masks_show_at_most_the_last_two_characters() -> None:
    assert mask("correct-horse-battery") == "••••ry"
    assert mask("short") == "••••"
    assert "horse" not in mask("correct-horse-battery")


def test_merge_clears_with_null_and_starts_afresh_on_a_new_kind() -> None:
    current = parse_exit(_body("vmess")).fields()
    merged = merge_fields(current, {"verify_url": None, "verify_dns_name": "whoami.test"})
    assert "verify_url" not in merged and merged["security"] == "auto"
    switched = merge_fields(current, {"kind": "trojan", "password": "pw"})
    assert "security" not in switched and "alter_id" not in switched
    assert switched["server"] == "exit.example.net" and switched["kind"] == "trojan"
    assert parse_exit(switched).secrets == {"password": "pw"}


def _exit(kind: str, secrets: dict[str, str]) -> Exit:
    cfg = parse_exit(_body(kind))
    now = dt.datetime.now(dt.UTC)
    return Exit(
        id=uuid.uuid4(),
        label=cfg.label,
        kind=cfg.kind,  # type: ignore[arg-type]
        server=cfg.server,
        port=cfg.port,
        expected_ip=cfg.expected_ip,
        dns_server=cfg.dns_server,
        configured_resolvers=cfg.expected_resolvers,
        verify_url=cfg.verify_url,
        verify_dns_name=cfg.verify_dns_name,
        options=cfg.options,
        masked={k: mask(v) for k, v in secrets.items()},
        created_at=now,
        updated_at=now,
    )


def test_the_view_masks_secrets_and_resolves_the_default_resolvers() -> None:
    view = exit_view(_exit("socks5", {"password": "socks-secret"}))
    assert view["password"] == "••••et" and view["username"] == "u"
    assert "socks-secret" not in str(view)
    assert view["expected_resolvers"] == ["198.18.0.53", "198.18.0.10"]
    assert view["egress_verified"] is True
    direct = exit_view(_exit("direct", {}))
    assert direct["egress_verified"] is False and direct["expected_resolvers"] == ["198.18.0.53"]


def test_the_spec_carries_secrets_in_clear_and_trojan_always_tls() -> None:
    spec = exit_spec(_exit("trojan", {"password": "trojan-pw"}), {"password": "trojan-pw"})
    assert spec.password == "trojan-pw" and spec.tls and spec.port == 1080
    assert spec.tls_server_name == "exit.example.net" and spec.dns_server == "198.18.0.53"
    vmess = exit_spec(_exit("vmess", {"uuid": UUID}), {"uuid": UUID})
    assert vmess.uuid == UUID and vmess.security == "auto" and not vmess.tls
    direct = exit_spec(_exit("direct", {}), {})
    assert direct.kind == "direct" and direct.server == "" and direct.port == 0


@pytest.mark.parametrize("kind", ["socks5", "shadowsocks", "vmess", "vless", "trojan"])
def test_udp_is_carried_unless_the_exit_says_udp_false(kind: str) -> None:
    secrets = {"uuid": UUID} if kind in ("vmess", "vless") else {"password": "a-secret-1"}
    stored = _exit(kind, secrets)
    assert exit_spec(stored, secrets).udp
    cfg = parse_exit(_body(kind, udp=False))
    assert cfg.options["udp"] is False
    # True is the default: stored as unset, so a form saved unchanged changes nothing.
    assert "udp" not in parse_exit(_body(kind, udp=True)).options
    assert not exit_spec(attrs.evolve(stored, options=cfg.options), secrets).udp
    assert _refused(_body(kind, udp="no")).extra["field"] == "udp"


def test_http_never_carries_udp_and_takes_no_udp_switch() -> None:
    assert not exit_spec(_exit("http", {"password": "p"}), {"password": "p"}).udp
    assert exit_spec(_exit("direct", {}), {}).udp
    for kind in ("http", "direct"):
        assert _refused(_body(kind, udp=True)).extra["field"] == "udp"
