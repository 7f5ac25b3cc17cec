"""HTTPS to the server with its TLS public key pinned (trust on first use).

The first ``login`` shows the key's SHA-256 and keeps it; every later connection checks the
key before a byte of the request (the token) is sent, whatever CA signed the certificate, so
the server's own local CA needs no trust store. The pin is curl's ``--pinnedpubkey`` form
(``sha256//`` + base64 of the SubjectPublicKeyInfo's SHA-256), the same the one-liners use.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ssl


class PinMismatch(Exception):
    """The server showed another TLS key than the pinned one."""


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``at``."""
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    return tag, at, at + length


def spki_of(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo (DER) of an X.509 certificate."""
    _, cert, _ = _tlv(der, 0)  # Certificate ::= SEQUENCE
    _, tbs, _ = _tlv(der, cert)  # TBSCertificate ::= SEQUENCE
    at = tbs
    tag, _, end = _tlv(der, at)
    if tag == 0xA0:  # [0] version, optional
        at = end
    for _ in range(5):  # serial, signature, issuer, validity, subject
        _, _, at = _tlv(der, at)
    _, _, end = _tlv(der, at)
    return der[at:end]


def pin_of(der: bytes) -> str:
    digest = hashlib.sha256(spki_of(der)).digest()
    return "sha256//" + base64.b64encode(digest).decode()


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin is checked instead, before anything is sent
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class PinnedConnection(http.client.HTTPSConnection):
    """An HTTPS connection that refuses a server whose key is not ``pin`` (None: learn it)."""

    def __init__(self, host: str, port: int, pin: str | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_context())
        self.pin = pin
        self.seen_pin = ""

    def connect(self) -> None:
        super().connect()
        assert isinstance(self.sock, ssl.SSLSocket)
        der = self.sock.getpeercert(binary_form=True)
        if der is None:
            raise PinMismatch("the server showed no certificate")
        self.seen_pin = pin_of(der)
        if self.pin is not None and self.seen_pin != self.pin:
            self.sock.close()
            raise PinMismatch(f"the server's TLS key is {self.seen_pin}, not the pinned {self.pin}")


def learn_pin(host: str, port: int, timeout: float = 10.0) -> str:
    """The pin of the key the server shows now (for trust on first use)."""
    conn = PinnedConnection(host, port, None, timeout)
    try:
        conn.connect()
        return conn.seen_pin
    except (TimeoutError, OSError) as exc:
        raise ConnectionError(f"cannot reach {host}:{port}: {exc}") from exc
    finally:
        conn.close()
