"""What a new host is made of (short id, box key pair, limits, timezone) and who may see one.

Pure functions, so the rules can be tested without a database.
"""

from __future__ import annotations

import re
import secrets
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudclaude.core.timefmt import known_timezones
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import Host, HostLimits

_SHORT_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud safely
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
MAX_LIMITS = HostLimits(cpus=256, memory_mb=1024 * 1024, pids=1_000_000, disk_gb=16384)
MIN_LIMITS = HostLimits(cpus=0.1, memory_mb=128, pids=32, disk_gb=1)


def new_short_id() -> str:
    return "".join(secrets.choice(_SHORT_ID_ALPHABET) for _ in range(8))


def new_box_key_pair() -> tuple[str, bytes]:
    """An ed25519 key pair: the OpenSSH public line and the private key in OpenSSH PEM."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return public.decode() + " cloudclaude-proxy", private


def check_limits(limits: HostLimits) -> None:
    problems = [
        f"{name} must be between {getattr(MIN_LIMITS, name)} and {getattr(MAX_LIMITS, name)}"
        for name in ("cpus", "memory_mb", "pids", "disk_gb")
        if not getattr(MIN_LIMITS, name) <= getattr(limits, name) <= getattr(MAX_LIMITS, name)
    ]
    if problems:
        raise CloudClaudeError("validation_failed", "; ".join(problems))


def check_timezone(timezone: str) -> None:
    """A zone of the tz database (``Europe/Berlin``, ``UTC``); anything else is a 422, since
    the box would silently run UTC. The shape is checked first: no path tricks reach a lookup."""
    shown = repr(timezone[:64])
    if not _TIMEZONE.fullmatch(timezone) or ".." in timezone or len(timezone) > 64:
        raise CloudClaudeError(
            "validation_failed", f"timezone {shown} is not a tz database name like Europe/Berlin"
        )
    if timezone not in known_timezones():
        raise CloudClaudeError(
            "validation_failed",
            f"timezone {shown} is not in the tz database; use a name like Europe/Berlin,"
            " America/New_York or UTC",
        )


def visible(host: Host | None, ref: object, owner: uuid.UUID | None = None) -> Host:
    """The host, if it exists, is not deleted and (``owner`` set) belongs to that user.

    Without ``owner`` an admin (or the system) asks, and is told the admin's fix."""
    if host is None or host.status == "deleted" or (owner and host.user_id != owner):
        raise CloudClaudeError("host_not_found", f"no host {str(ref)[:64]!r}", admin=owner is None)
    return host
