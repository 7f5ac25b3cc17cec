"""A local certificate authority, so the web listener speaks TLS with no CA bought or set up.

On first run the state directory gets ``tls/ca.pem`` + ``tls/ca.key`` (ECDSA P-256, 10 years)
and a leaf ``tls/server.pem`` + ``tls/server.key`` (ECDSA P-256, 1 year) signed by it, with SANs
for this machine's names and addresses. A bare self-signed leaf would do for curl's pin, but
audits (testssl.sh) and browsers treat a leaf that is its own issuer as a finding by name alone;
a leaf under a CA the operator may choose to trust is what real deployments look like.

The leaf is made again, with the same CA, when it is due to expire within ``RENEW_BEFORE`` or
when a name it must carry is missing (the machine got a new address). Its public key stays the
same across renewals, so the pin printed on first run keeps working.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudclaude.core.private_files import write_private

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@attrs.frozen
class LocalCaFiles:
    """Where the local CA and the leaf it signed live under ``<state_dir>/tls``."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server.key"

    @property
    def crl(self) -> Path:
        return self.directory / "ca.crl"


@attrs.frozen
class LeafSpec:
    """What the leaf must carry: its names (the first is its common name) and where the CA's
    revocation list is published (audits rate a certificate with neither CRL nor OCSP high)."""

    names: list[str]
    crl_url: str


def machine_names(extra: Iterable[str] = ()) -> list[str]:
    """This machine's host names and addresses, plus ``extra``, each once, in a stable order."""
    names = [socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1", "::1"]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
        names += [str(info[4][0]) for info in infos]
    except OSError:
        pass
    names += [name.strip() for name in extra if name.strip()]
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name.lower(), None)
    return list(seen)


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an ECDSA key")
    return key


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Signatures only (ECDSA keys agree on nothing); the CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(files: LocalCaFiles, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudclaude"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"cloudclaude local CA {socket.gethostname()}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(files.ca_key, _pem_key(key))
    _write_public(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _crl_point(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _make_crl(files: LocalCaFiles, now: dt.datetime, until: dt.datetime) -> None:
    """An empty revocation list, signed by the CA: nothing it issued is revoked."""
    ca_key = _load_key(files.ca_key)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(until)
        .sign(ca_key, hashes.SHA256())
    )
    _write_public(files.crl, crl.public_bytes(serialization.Encoding.DER))


def _make_leaf(files: LocalCaFiles, leaf: LeafSpec, now: dt.datetime) -> None:
    ca_key = _load_key(files.ca_key)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = _load_key(files.key) if files.key.exists() else ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, leaf.names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(_general_names(leaf.names)), critical=False)
        .add_extension(_crl_point(leaf.crl_url), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    if not files.key.exists():
        write_private(files.key, _pem_key(key))
    _write_public(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    _make_crl(files, now, cert.not_valid_after_utc)


def _leaf_due(files: LocalCaFiles, leaf: LeafSpec, now: dt.datetime) -> bool:
    """True when the leaf is missing, expiring soon, or lacks one of its names or its CRL."""
    if not files.cert.exists() or not files.key.exists() or not files.crl.exists():
        return True
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    if cert.not_valid_after_utc - RENEW_BEFORE <= now:
        return True
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return True
    return not set(_general_names(leaf.names)) <= set(sans) or points != _crl_point(leaf.crl_url)


def ensure(directory: Path, leaf: LeafSpec, now: dt.datetime | None = None) -> LocalCaFiles:
    """The local CA and a current leaf as ``leaf`` says in ``directory``, made when missing.

    Returns the file locations. Existing files are kept: only a leaf that is due is replaced.
    """
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = LocalCaFiles(directory)
    if not files.ca_cert.exists() or not files.ca_key.exists():
        _make_ca(files, now)
        files.cert.unlink(missing_ok=True)  # a leaf of an older CA would not verify
    if _leaf_due(files, leaf, now):
        _make_leaf(files, leaf, now)
    return files
