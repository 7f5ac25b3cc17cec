"""What one backup holds: its manifest, and the server's own files (keys, certificates).

A backup is several restic snapshots tagged ``backup=<id>``: the database archive, the state
files' tar, one tar per home, and last the manifest listing each part with its size and SHA-256.
A backup without a manifest never completed and is never restored.

The state files are the server key (it seals exit secrets, so they stay sealed in the backup),
the SSH proxy's host key and the local CA and certificate under ``tls/``: restored, users keep
their TLS pins and known_hosts lines. They are extracted by name, regular files only, with
mode 0600, never by following what the archive says.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

from cloudclaude.errors import CloudClaudeError, disk

FORMAT = 1
TAG = "cloudclaude"
MANIFEST_TAG = "cloudclaude-manifest"
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "database.pgdump"
STATE_NAME = "state.tar"
#: A state file is a key or a certificate: small.
STATE_FILE_MAX = 1 << 20

PartKind = Literal["database", "state", "home"]


def backup_tag(backup_id: str) -> str:
    return f"backup={backup_id}"


def backup_id_of(tags: tuple[str, ...]) -> str:
    """The backup a snapshot belongs to, from its ``backup=<id>`` tag ("" for none)."""
    return next((t.removeprefix("backup=") for t in tags if t.startswith("backup=")), "")


@attrs.define
class Hashed:
    """A part's bytes as they pass (stored or restored): counted and hashed."""

    size: int = 0
    digest: Any = attrs.field(factory=hashlib.sha256)

    def add(self, chunk: bytes | bytearray) -> None:
        self.size += len(chunk)
        self.digest.update(chunk)

    def check(self, part: Part) -> None:
        """Raise ``backup_corrupt`` unless these bytes are the ones ``part`` recorded."""
        sha256 = self.digest.hexdigest()
        if self.size != part.size or sha256 != part.sha256:
            raise CloudClaudeError(
                disk.BACKUP_CORRUPT,
                f"{part.name}: {self.size} bytes, sha256 {sha256[:16]}…; the manifest says"
                f" {part.size} bytes, {part.sha256[:16]}…",
            )


def home_name(host_id: str) -> str:
    return f"homes/{host_id}.tar"


@attrs.frozen(kw_only=True)
class Part:
    name: str
    kind: PartKind
    snapshot: str
    size: int
    sha256: str
    host_id: str = ""
    disk_gb: int = 0
    #: The box ran, and was frozen while its home was read.
    frozen: bool = False


@attrs.frozen(kw_only=True)
class Skipped:
    host_id: str
    reason: str


@attrs.frozen(kw_only=True)
class Manifest:
    backup_id: str
    created_at: str
    version: str
    schema_version: int
    parts: list[Part]
    skipped: list[Skipped] = attrs.field(factory=list)
    format: int = FORMAT

    def part(self, kind: PartKind) -> Part:
        found = [part for part in self.parts if part.kind == kind]
        if len(found) != 1:
            raise CloudClaudeError(disk.BACKUP_CORRUPT, f"the manifest has {len(found)} {kind}s")
        return found[0]

    @property
    def homes(self) -> list[Part]:
        return [part for part in self.parts if part.kind == "home"]

    @property
    def size(self) -> int:
        return sum(part.size for part in self.parts)


_converter = cattrs.Converter(forbid_extra_keys=False)


def encode(manifest: Manifest) -> bytes:
    return json.dumps(_converter.unstructure(manifest), indent=1, sort_keys=True).encode()


def decode(data: bytes) -> Manifest:
    try:
        raw: Any = json.loads(data)
        manifest = _converter.structure(raw, Manifest)
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        raise CloudClaudeError(disk.BACKUP_CORRUPT, f"the manifest cannot be read: {exc}") from exc
    if manifest.format != FORMAT:
        raise CloudClaudeError(
            disk.BACKUP_CORRUPT, f"manifest format {manifest.format}; this version reads {FORMAT}"
        )
    return manifest


def state_files(state_dir: Path, ssh_host_key: Path) -> dict[str, Path]:
    """Archive name → file: the server's keys and certificates that exist now."""
    files = {"server.key": state_dir / "server.key", "ssh_host_key": ssh_host_key}
    tls = state_dir / "tls"
    if tls.is_dir():
        for path in sorted(tls.iterdir()):
            if path.is_file() and not path.is_symlink():
                files[f"tls/{path.name}"] = path
    return {name: path for name, path in files.items() if path.is_file()}


def pack_state(files: dict[str, Path]) -> bytes:
    """A tar of ``files`` under their archive names (contents only: modes are set on restore)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as tar:
        for name, path in files.items():
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def unpack_state(data: bytes, destination: dict[str, Path], owner: tuple[int, int]) -> list[str]:
    """Write each known file of the tar to its place (0600, ``owner``); the names written.

    Names other than ``destination``'s, and anything but a small regular file, are refused.
    """
    written = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar.getmembers():
            target = _target(info, destination)
            handle = tar.extractfile(info)
            assert handle is not None  # a regular file
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".restoring")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(handle.read())
            os.chown(temporary, *owner)
            os.replace(temporary, target)
            written.append(info.name)
    return written


def _target(info: tarfile.TarInfo, destination: dict[str, Path]) -> Path:
    if info.name not in destination or not info.isreg() or info.size > STATE_FILE_MAX:
        raise CloudClaudeError(
            disk.BACKUP_CORRUPT, f"the state archive holds an unexpected entry {info.name!r}"
        )
    return destination[info.name]


def restore_targets(state_dir: Path, ssh_host_key: Path, names: list[str]) -> dict[str, Path]:
    """Where each state file of a backup goes on this machine."""
    places = {"server.key": state_dir / "server.key", "ssh_host_key": ssh_host_key}
    for name in names:
        leaf = name.removeprefix("tls/")
        if name.startswith("tls/") and leaf and "/" not in leaf and leaf not in (".", ".."):
            places[name] = state_dir / "tls" / leaf
    return places
