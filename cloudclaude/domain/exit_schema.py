"""Exit settings per kind: which fields each kind takes and what each must hold.

An exit arrives as one flat JSON object (API body, ctl file). Each kind accepts its own field
set, named as in ``agent.protocol.messages.ExitSpec``; any other field is refused by name, so a
typo never silently drops a setting. Every failure is ``exit_invalid`` (NET_008) naming the
field. ``null`` counts as absent. A secret sent back as its mask (``••••ab``) means "keep the
stored one", so an exit read and written back unchanged keeps its credentials.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.exits import MASK, SECRET_FIELDS, submitted_fields

COMMON = (
    "label",
    "kind",
    "expected_ip",
    "dns_server",
    "expected_resolvers",
    "verify_url",
    "verify_dns_name",
)
SERVER = ("server", "port")
TLS = ("tls", "tls_server_name", "tls_insecure", "tls_certificate")
#: sing-box's AEAD and 2022 ciphers (no stream ciphers, no ``none``); 2022 keys are base64.
SS_METHODS = {
    "aes-128-gcm": None,
    "aes-192-gcm": None,
    "aes-256-gcm": None,
    "chacha20-ietf-poly1305": None,
    "xchacha20-ietf-poly1305": None,
    "2022-blake3-aes-128-gcm": 16,
    "2022-blake3-aes-256-gcm": 32,
    "2022-blake3-chacha20-poly1305": 32,
}
VMESS_SECURITY = ("auto", "none", "zero", "aes-128-gcm", "chacha20-poly1305", "aes-128-ctr")
VLESS_FLOWS = ("", "xtls-rprx-vision")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DNS_NAME = re.compile(
    r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_RESOLVERS = 8


@attrs.frozen(kw_only=True)
class KindSchema:
    #: Kind-specific fields, beyond the common ones and server/port.
    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    #: Connects to a server (everything but ``direct``).
    server: bool = True
    #: TLS is always on (trojan): the ``tls`` switch itself is not a field.
    tls_always: bool = False


KINDS: dict[str, KindSchema] = {
    "direct": KindSchema(fields=(), server=False),
    "socks5": KindSchema(fields=("username", "password", "udp")),
    # An HTTP proxy never relays UDP: no ``udp`` switch.
    "http": KindSchema(fields=("username", "password", *TLS)),
    "shadowsocks": KindSchema(
        fields=("method", "password", "udp"), required=("method", "password")
    ),
    "vmess": KindSchema(fields=("uuid", "security", "alter_id", "udp", *TLS), required=("uuid",)),
    "vless": KindSchema(fields=("uuid", "flow", "udp", *TLS), required=("uuid",)),
    "trojan": KindSchema(
        fields=("password", "udp", "tls_server_name", "tls_insecure", "tls_certificate"),
        required=("password",),
        tls_always=True,
    ),
}


@attrs.frozen(kw_only=True)
class ExitConfig:
    """A checked exit: its columns, its non-secret options and its secrets in clear."""

    label: str
    kind: str
    server: str | None
    port: int | None
    expected_ip: str | None
    dns_server: str
    expected_resolvers: tuple[str, ...] | None
    verify_url: str | None
    verify_dns_name: str | None
    options: dict[str, Any]
    #: Secrets given in this submission ("" clears an optional one).
    secrets: dict[str, str]
    #: Secrets sent as their mask or left out: the stored values are kept.
    kept: frozenset[str]

    def fields(self) -> dict[str, Any]:
        """The public fields in the shape of ``Exit.fields()`` (to tell what an edit changed)."""
        return submitted_fields(self, self.expected_resolvers)


def invalid(field: str, problem: str) -> CloudClaudeError:
    return CloudClaudeError("exit_invalid", f"{field}: {problem}", field=field)


def allowed_fields(kind: str) -> tuple[str, ...]:
    schema = KINDS[kind]
    return COMMON + (SERVER if schema.server else ()) + schema.fields


def merge_fields(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A partial edit on top of an exit's fields: ``null`` clears, a new kind starts afresh.

    Secrets are not in ``current``; left out, ``parse_exit`` keeps the stored ones.
    """
    base = dict(current)
    if "kind" in changes and changes["kind"] != current.get("kind"):
        base = {k: v for k, v in base.items() if k in COMMON or k in SERVER}
    merged = {**base, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def parse_exit(data: Mapping[str, Any], *, stored: frozenset[str] = frozenset()) -> ExitConfig:
    """Check ``data`` against its kind's schema; ``stored`` names the secrets already kept."""
    given = {k: v for k, v in data.items() if v is not None}
    kind = given.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise invalid("kind", f"must be one of {', '.join(KINDS)}")
    schema = KINDS[kind]
    allowed = allowed_fields(kind)
    for name in data:
        if name not in allowed:
            raise invalid(name, f"unknown field for a {kind} exit (allowed: {', '.join(allowed)})")
    label = _text(given, "label", required=True, limit=64)
    if not LABEL_RE.match(label) or _is_uuid(label):
        raise invalid("label", "1-64 characters of A-Z, a-z, 0-9, '.', '_', '-' (not a UUID)")
    server = port = None
    if schema.server:
        server = _server(_text(given, "server", required=True, limit=253))
        port = _port(given.get("port"))
    dns_server = _ipv4(_text(given, "dns_server", required=True, limit=64), "dns_server")
    expected_ip = given.get("expected_ip")
    if expected_ip is not None:
        expected_ip = _ip(_text(given, "expected_ip", limit=64), "expected_ip")
    verify_url = _url(given.get("verify_url"))
    verify_dns_name = given.get("verify_dns_name")
    if verify_dns_name is not None:
        verify_dns_name = _dns_name(_text(given, "verify_dns_name", limit=253), "verify_dns_name")
    if kind != "direct" and expected_ip is None:
        raise invalid("expected_ip", f"required for a {kind} exit")
    if verify_url is not None and expected_ip is None:
        raise invalid("expected_ip", "required with verify_url (the address it must answer)")
    if kind != "direct" and verify_url is None and verify_dns_name is None:
        raise invalid(
            "verify_url",
            "a proxy exit needs verify_url and/or verify_dns_name (only direct may be unverified)",
        )
    options, secrets, kept = _kind_fields(kind, schema, given, stored)
    return ExitConfig(
        label=label,
        kind=kind,
        server=server,
        port=port,
        expected_ip=expected_ip,
        dns_server=dns_server,
        expected_resolvers=_resolvers(given.get("expected_resolvers")),
        verify_url=verify_url,
        verify_dns_name=verify_dns_name,
        options=options,
        secrets=secrets,
        kept=kept,
    )


def _kind_fields(
    kind: str, schema: KindSchema, given: dict[str, Any], stored: frozenset[str]
) -> tuple[dict[str, Any], dict[str, str], frozenset[str]]:
    options: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    kept: set[str] = set()
    for name in schema.fields:
        if name in SECRET_FIELDS:
            value = given.get(name)
            if value is None or (isinstance(value, str) and value.startswith(MASK)):
                if name in stored:
                    kept.add(name)
                elif value is not None:
                    raise invalid(name, "send the secret itself, not its mask")
                continue
            secrets[name] = _secret(name, value)
        elif name in given:
            options[name] = _option(name, given[name])
    if options.get("udp") is True:  # the default: stored as absent, so true == unset
        del options["udp"]
    for name in schema.required:
        present = options.get(name) or secrets.get(name) or name in kept
        if not present:
            raise invalid(name, f"required for a {kind} exit")
    if kind == "shadowsocks" and "password" in secrets:
        _ss_key(options["method"], secrets["password"])
    has_password = bool(secrets.get("password")) or "password" in kept
    if kind in ("socks5", "http") and has_password and not options.get("username"):
        raise invalid("username", "required when a password is set")
    if not schema.tls_always and not options.get("tls"):
        for name in TLS[1:]:
            if name in options:
                raise invalid(name, "only with tls: true")
    return options, secrets, frozenset(kept)


def _option(name: str, value: Any) -> Any:
    match name:
        case "tls" | "tls_insecure" | "udp":
            if not isinstance(value, bool):
                raise invalid(name, "must be true or false")
            return value
        case "alter_id":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise invalid(name, "must be an integer 0..65535")
            return value
        case "username":
            text = _checked_text(name, value, 255)
            if not text:
                raise invalid(name, "must not be empty")
            return text
        case "method":
            if value not in SS_METHODS:
                raise invalid(name, f"must be one of {', '.join(SS_METHODS)}")
            return value
        case "security":
            if value not in VMESS_SECURITY:
                raise invalid(name, f"must be one of {', '.join(VMESS_SECURITY)}")
            return value
        case "flow":
            if value not in VLESS_FLOWS:
                raise invalid(name, "must be empty or xtls-rprx-vision")
            return value
        case "tls_server_name":
            text = _checked_text(name, value, 253)
            return text if _is_ip(text) else _dns_name(text, name)
        case "tls_certificate":
            text = _checked_text(name, value, 65536, multiline=True)
            if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
                raise invalid(name, "must be a PEM certificate")
            return text
    raise invalid(name, "unknown field")  # pragma: no cover (schemas name only the above)


def _secret(name: str, value: Any) -> str:
    if name == "uuid":
        if not isinstance(value, str) or not _is_uuid(value):
            raise invalid(name, "must be a UUID such as 0d8a0a4e-5c1f-4f33-9a55-3d1e2f4b6c7d")
        return str(uuid.UUID(value))
    return _checked_text(name, value, 1024)


def _ss_key(method: str, password: str) -> None:
    size = SS_METHODS[method]
    if size is None or not password:
        return
    try:
        key = base64.b64decode(password, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("password", f"{method} takes a base64 key of {size} bytes") from exc
    if len(key) != size:
        raise invalid("password", f"{method} takes a base64 key of {size} bytes")


def _text(given: dict[str, Any], name: str, *, required: bool = False, limit: int) -> str:
    value = given.get(name)
    if value is None:
        if required:
            raise invalid(name, "required")
        return ""
    text = _checked_text(name, value, limit)
    if not text and required:
        raise invalid(name, "required")
    return text


def _checked_text(name: str, value: Any, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if len(value) > limit:
        raise invalid(name, f"at most {limit} characters")
    text = value.replace("\r\n", "\n").replace("\n", "") if multiline else value
    if _CONTROL.search(text):
        raise invalid(name, "must not contain control characters")
    return value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip(text: str, name: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise invalid(name, f"{text!r} is not an IP address") from exc
    if address.is_unspecified or address.is_multicast:
        raise invalid(name, f"{text} cannot be an exit's address")
    return str(address)


def _ipv4(text: str, name: str) -> str:
    address = _ip(text, name)
    if ipaddress.ip_address(address).version != 4:
        raise invalid(name, "must be an IPv4 address (boxes have no IPv6)")
    return address


def _server(text: str) -> str:
    if _is_ip(text):
        return _ipv4(text, "server")
    if ":" in text:
        raise invalid("server", "must be an IPv4 address or a host name (boxes have no IPv6)")
    return _dns_name(text, "server").lower().rstrip(".")


def _dns_name(text: str, name: str) -> str:
    if not _DNS_NAME.match(text) or text.replace(".", "").isdigit():
        raise invalid(name, f"{text[:64]!r} is not a DNS name")
    return text


def _port(value: Any) -> int:
    if value is None:
        raise invalid("port", "required")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid("port", "must be an integer 1..65535")
    return value


def _url(value: Any) -> str | None:
    if value is None:
        return None
    text = _checked_text("verify_url", value, 2048)
    parts = urllib.parse.urlsplit(text)
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise invalid("verify_url", "has an invalid port") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise invalid("verify_url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise invalid("verify_url", "must not carry credentials")
    return text


def _resolvers(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RESOLVERS:
        raise invalid("expected_resolvers", f"must be a list of 1..{MAX_RESOLVERS} IP addresses")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise invalid("expected_resolvers", "must be a list of IP addresses")
        address = _ip(item, "expected_resolvers")
        if address not in out:
            out.append(address)
    return tuple(out)
