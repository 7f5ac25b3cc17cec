"""The web listener's TLS: which certificate it serves, its public-key pin, and SIGHUP reloads.

With ``web.tls = "auto"`` and no ``web.tls_cert``, the certificate comes from the local CA in
``<state_dir>/tls`` (``local_ca``). With ``web.tls_cert`` and ``web.tls_key`` it is the
operator's. ``web.tls = "off"`` serves plain HTTP: only behind a reverse proxy that ends TLS
(``web.public_url`` + ``web.trusted_proxies``), or in tests.

hypercorn builds its ``SSLContext`` once, when it starts listening. ``ServerTls`` owns that
context and, on reload, calls ``load_cert_chain`` on the same object: new handshakes get the
new certificate, open connections keep theirs. A reload that fails keeps the old certificate.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloudclaude.core import local_ca
from cloudclaude.core.settings import Settings
from cloudclaude.errors import CloudClaudeError, system

log = structlog.get_logger(component="tls")

#: TLS 1.2 suites: forward-secret AEAD only (TLS 1.3 suites are all AEAD already).
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def spki_pin(cert_pem: bytes) -> str:
    """curl's ``--pinnedpubkey`` value for a PEM certificate: the SHA-256 of its public key."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def server_context() -> ssl.SSLContext:
    """A server context with modern settings and no certificate yet."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ecdh_curve("prime256v1")
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def crl_url(settings: Settings) -> str:
    """Where the local CA's revocation list is published (named in the leaf)."""
    return base_url(settings, local_ca.machine_names()[0]) + "/tls/ca.crl"


def base_url(settings: Settings, host: str) -> str:
    """The address users reach the web listener at: ``web.public_url`` or ``host`` + port."""
    web = settings.web
    if web.public_url:
        return web.public_url.rstrip("/")
    scheme = "http" if web.tls == "off" else "https"
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{shown}:{web.port}"


class ServerTls:
    """The certificate the web listener serves, kept in one ``SSLContext``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.context = server_context()
        self.local: local_ca.LocalCaFiles | None = None
        self.pin = ""
        self.load()

    @property
    def client_pin(self) -> str:
        """The pin clients should check: the local CA's leaf only. An operator's certificate
        verifies by its CA, and pinning it would break at its next renewal."""
        return self.pin if self.local is not None else ""

    @property
    def cert_path(self) -> Path:
        web = self._settings.web
        if web.tls_cert:
            return Path(web.tls_cert)
        assert self.local is not None
        return self.local.cert

    @property
    def key_path(self) -> Path:
        web = self._settings.web
        if web.tls_key:
            return Path(web.tls_key)
        assert self.local is not None
        return self.local.key

    def load(self) -> None:
        """(Re)load the certificate into the context; raise ``tls_unusable`` if it cannot be."""
        web = self._settings.web
        if not web.tls_cert:
            names = local_ca.machine_names(_names(web.tls_names))
            spec = local_ca.LeafSpec(names=names, crl_url=crl_url(self._settings))
            try:
                self.local = local_ca.ensure(self._settings.state_path / "tls", spec)
            except (OSError, ValueError) as exc:
                raise CloudClaudeError(system.TLS_UNUSABLE, str(exc)) from exc
        try:
            pem = self.cert_path.read_bytes()
            pin = spki_pin(pem)
            self.context.load_cert_chain(self.cert_path, self.key_path)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise CloudClaudeError(
                system.TLS_UNUSABLE, f"{self.cert_path} / {self.key_path}: {exc}"
            ) from exc
        self.pin = pin
        log.info("tls_certificate_loaded", cert=str(self.cert_path), pin=pin)

    def reload(self) -> bool:
        """SIGHUP: load the certificate again; on failure keep serving the old one."""
        try:
            self.load()
        except CloudClaudeError as exc:
            log.error("tls_reload_failed", error=str(exc))
            return False
        return True


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def open_server_tls(settings: Settings) -> ServerTls | None:
    """The web listener's TLS, or None when it serves plain HTTP (``web.tls = "off"``)."""
    if settings.web.tls == "off":
        return None
    return ServerTls(settings)


def curl_command(pin: str) -> str:
    """How the one-liners call curl: pinned to the local CA's key, or verified as usual.

    curl checks ``--pinnedpubkey`` even with ``-k``: a wrong key fails before any byte of the
    request is sent, so the name check ``-k`` skips is replaced by a stronger one.
    """
    if not pin:
        return "curl -fsSL"
    return f"curl -fsSL -k --pinnedpubkey '{pin}'"
