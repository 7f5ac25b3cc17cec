"""Settings, the loading: a TOML file plus ``CLOUDCLAUDE_*`` environment variables, validated.

Part of ``cloudclaude.core.settings`` (import the names from there). Environment variables name a
key path with ``__`` between sections; an unknown key or a value of the wrong type raises
``SettingsError`` naming the key.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from cloudclaude.core.settings_checks import SettingsError
from cloudclaude.core.settings_sections import Settings

ENV_PREFIX = "CLOUDCLAUDE_"
CONFIG_ENV = "CLOUDCLAUDE_CONFIG"


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (or ``$CLOUDCLAUDE_CONFIG``; none means defaults) and overlay the env."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    _overlay_env(data, env)
    settings: Settings = _build(Settings, data, "")
    return settings


def _overlay_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        cls: type[Any] = Settings
        target = data
        for i, part in enumerate(parts):
            fields = {f.name: f for f in attrs.fields(cls)}
            if part not in fields:
                raise SettingsError(f"unknown environment variable {name}{_hint(part, fields)}")
            field = fields[part]
            field_type = _field_type(cls, part)
            if attrs.has(field_type):
                if i == len(parts) - 1:
                    raise SettingsError(f"{name} names a section; set one of its keys instead")
                section = target.setdefault(part, {})
                if not isinstance(section, dict):
                    raise SettingsError(f"{name}: {'.'.join(parts[: i + 1])} is not a section")
                target, cls = section, field_type
                continue
            if i != len(parts) - 1:
                raise SettingsError(f"unknown environment variable {name}: {field.name} is a value")
            target[part] = _check_value(name, field_type, _from_env_text(name, field_type, value))


def _from_env_text(name: str, field_type: Any, text: str) -> Any:
    if field_type is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected a boolean (true/false), got {text!r}")
    if field_type is int:
        try:
            # A leading zero means octal, as in file modes (CLOUDCLAUDE_CTL__SOCKET_MODE=0660).
            if len(text) > 1 and text.startswith("0") and text.isdigit():
                return int(text, 8)
            return int(text, 0)
        except ValueError as exc:
            raise SettingsError(f"{name}: expected an integer, got {text!r}") from exc
    if field_type is float:
        try:
            return float(text)
        except ValueError as exc:
            raise SettingsError(f"{name}: expected a number, got {text!r}") from exc
    return text


def _field_type(cls: type[Any], name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _hint(key: str, fields: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in attrs.fields(cls)}
    for key in data:
        if key not in fields:
            raise SettingsError(f"unknown config key '{prefix}{key}'{_hint(key, fields)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        field_type = _field_type(cls, key)
        if attrs.has(field_type):
            kwargs[key] = _build(field_type, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_value(f"{prefix}{key}", field_type, value)
    try:
        return cls(**kwargs)
    except SettingsError as exc:
        raise SettingsError(f"{prefix}{exc}") from exc
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from exc


def _label(key: str) -> str:
    return key if key.startswith(ENV_PREFIX) else f"config key '{key}'"


def _check_value(key: str, field_type: Any, value: Any) -> Any:
    origin = typing.get_origin(field_type)
    if origin is Literal:
        choices = typing.get_args(field_type)
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise SettingsError(f"{_label(key)} must be one of {allowed}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        raise SettingsError(f"config key '{key}': unsupported type")  # pragma: no cover
    expected: tuple[type, ...] = (field_type,)
    if field_type is float:
        expected = (int, float)
    ok = isinstance(value, expected) and not (field_type is not bool and isinstance(value, bool))
    if not ok:
        raise SettingsError(
            f"{_label(key)} must be {field_type.__name__}, got {type(value).__name__} {value!r}"
        )
    return float(value) if field_type is float else value
