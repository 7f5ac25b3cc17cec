"""Settings, the checks: ``SettingsError``, the reloadable marker and the field validators.

Part of ``cloudclaude.core.settings``; the sections (``settings_sections``) use these. A
validator raises ``SettingsError`` naming the field.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from agent.config import parse_extra_mounts
from agent.packages import parse_packages
from cloudclaude.core.timefmt import known_timezones

#: What the rest of the daemon uses; the validators are only for declaring section fields.
__all__ = ["RELOADABLE", "SettingsError", "parse_networks", "reloadable"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Field metadata key marking a field as applied on reload (``settings_reload.diff`` reads it).
RELOADABLE = "reloadable"


class SettingsError(Exception):
    """A config file or environment variable is unknown, mistyped or out of range."""


def reloadable(default: Any) -> Any:
    """A field with ``default`` that a reload applies without a restart."""
    return attrs.field(default=default, metadata={RELOADABLE: True})


def positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise SettingsError(f"{attribute.name} must be greater than 0, got {value!r}")


def not_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise SettingsError(f"{attribute.name} must be 0 or more, got {value!r}")


def extra_mounts(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        parse_extra_mounts(value)
    except ValueError as exc:
        raise SettingsError(f"{attribute.name}: {exc}") from exc


def tz_name(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in known_timezones():
        raise SettingsError(f"{attribute.name} must be a tz database name like UTC, got {value!r}")


def port(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise SettingsError(f"{attribute.name} must be a TCP port (0-65535), got {value!r}")


def both_or_neither(other: str) -> Any:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        if bool(value) != bool(getattr(inst, other)):
            raise SettingsError(f"{attribute.name} and {other} must be set together")

    return check


def public_url(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise SettingsError(
            f"{attribute.name} must be an http(s) address like https://cc.example.com,"
            f" got {value!r}"
        )


def upstream_url(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    """An http(s) origin: no path but ``/``, no query, fragment or user info."""
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise SettingsError(
            f"{attribute.name} must be an http(s) origin like https://api.anthropic.com"
            f" (no path, query or user info), got {value!r}"
        )
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise SettingsError(f"{attribute.name}: {exc}") from exc


def parse_networks(value: str) -> list[IPNetwork]:
    """Comma-separated addresses or networks (``10.0.0.0/8, 127.0.0.1``)."""
    return [ipaddress.ip_network(part.strip()) for part in value.split(",") if part.strip()]


def networks(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        parse_networks(value)
    except ValueError as exc:
        raise SettingsError(f"{attribute.name}: {exc}") from exc


#: An npm version: ``2.1.331`` or ``2.2.0-beta.1`` (no ranges, tags or URLs).
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?")


def npm_version(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _VERSION.fullmatch(value):
        raise SettingsError(f"{attribute.name} must be a version like 2.1.331, got {value!r}")


def packages(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        parse_packages(value)
    except ValueError as exc:
        raise SettingsError(f"image.{attribute.name} {exc}") from exc
