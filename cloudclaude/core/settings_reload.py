"""Settings, the reload: what changed between two trees, and the settings in force.

Part of ``cloudclaude.core.settings`` (import the names from there). On SIGHUP the supervisor
rereads the file and environment, reports ``diff`` and applies only the reloadable fields.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import attrs

from cloudclaude.core.settings_checks import RELOADABLE
from cloudclaude.core.settings_loading import load
from cloudclaude.core.settings_sections import Settings


@attrs.frozen
class SettingsDiff:
    """What changed between two settings trees, split by whether it applies without restart."""

    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]


def diff(old: Settings, new: Settings) -> SettingsDiff:
    applied: list[str] = []
    restart: list[str] = []
    _walk_diff(old, new, "", applied, restart)
    return SettingsDiff(tuple(applied), tuple(restart))


def _walk_diff(old: Any, new: Any, prefix: str, applied: list[str], restart: list[str]) -> None:
    for field in attrs.fields(type(old)):
        a, b = getattr(old, field.name), getattr(new, field.name)
        key = f"{prefix}{field.name}"
        if attrs.has(type(a)):
            _walk_diff(a, b, key + ".", applied, restart)
        elif a != b:
            (applied if field.metadata.get(RELOADABLE) else restart).append(key)


def merge_reloadable(old: Settings, new: Settings) -> Settings:
    """``old`` with only the reloadable fields taken from ``new``."""
    return typing.cast(Settings, _merge(old, new))


def _merge(old: Any, new: Any) -> Any:
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(old)):
        a, b = getattr(old, field.name), getattr(new, field.name)
        if attrs.has(type(a)):
            changes[field.name] = _merge(a, b)
        elif field.metadata.get(RELOADABLE):
            changes[field.name] = b
    return attrs.evolve(old, **changes)


@attrs.define
class LiveSettings:
    """The settings in force; SIGHUP swaps ``current`` and components read it each iteration."""

    current: Settings
    path: str | None = None
    #: Applied to every reload too (``cloudclaude up`` fixes the state dir and database URL).
    adjust: Callable[[Settings], Settings] | None = None

    def reread(self) -> Settings:
        """The file and environment as they are now, with ``adjust`` applied."""
        fresh = load(self.path)
        return self.adjust(fresh) if self.adjust is not None else fresh
