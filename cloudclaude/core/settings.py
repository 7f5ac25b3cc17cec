"""Settings: one frozen attrs tree from a TOML file plus ``CLOUDCLAUDE_*`` environment variables.

Environment variables name a key path with ``__`` between sections, e.g.
``CLOUDCLAUDE_WEB__PORT=9090`` or ``CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_USER=3``; they override
the file. ``CLOUDCLAUDE_CONFIG`` names the file itself. An unknown key or a value of the wrong
type raises ``SettingsError`` naming the key (the CLI turns it into exit code 2).

Fields marked ``reloadable`` are applied on SIGHUP (``diff`` says which changed); the others need
a restart.

The names live in ``settings_checks`` (``SettingsError`` and the field validators),
``settings_sections`` (the section classes),
``settings_loading`` (``load`` and the environment overlay) and ``settings_reload`` (``diff``,
``merge_reloadable``, ``LiveSettings``); import them from here.
"""

from __future__ import annotations

from cloudclaude.core.settings_checks import SettingsError, parse_networks
from cloudclaude.core.settings_loading import CONFIG_ENV, ENV_PREFIX, load
from cloudclaude.core.settings_reload import LiveSettings, SettingsDiff, diff, merge_reloadable
from cloudclaude.core.settings_sections import (
    AgentSettings,
    AuthSettings,
    BackupSettings,
    CredentialsSettings,
    CtlSettings,
    DatabaseSettings,
    EgressSettings,
    HostDefaults,
    ImageSettings,
    LogSettings,
    MetricsSettings,
    RateLimitSettings,
    ScannerSettings,
    Settings,
    SshSettings,
    SupervisorSettings,
    TaskSettings,
    UsersSettings,
    WebSettings,
    daily_times,
    host_presets,
)

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "AgentSettings",
    "AuthSettings",
    "BackupSettings",
    "CredentialsSettings",
    "CtlSettings",
    "DatabaseSettings",
    "EgressSettings",
    "HostDefaults",
    "ImageSettings",
    "LiveSettings",
    "LogSettings",
    "MetricsSettings",
    "RateLimitSettings",
    "ScannerSettings",
    "Settings",
    "SettingsDiff",
    "SettingsError",
    "SshSettings",
    "SupervisorSettings",
    "TaskSettings",
    "UsersSettings",
    "WebSettings",
    "daily_times",
    "diff",
    "host_presets",
    "load",
    "merge_reloadable",
    "parse_networks",
]
