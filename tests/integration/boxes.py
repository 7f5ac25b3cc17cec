"""Real dockerd for tests: the box image built once per run, and cleanup of what tests make.

Host ids made by tests start with ``t-``; whatever a failed test leaves behind (containers,
mounted disk images) is removed at the end of the run and before the next one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import trio

from agent.config import AgentConfig
from agent.ops.docker import Docker, DockerError
from agent.ops.images import Images
from agent.ops.mounts import deepest_first, read_mounts
from agent.ops.names import HOST_LABEL, MANAGED_LABEL
from tests.integration import pg, runlock
from tests.integration.gateway_leftovers import remove_gateway_leftovers

DOCKER_SOCKET = "/var/run/docker.sock"
TEST_PREFIX = "t-"
#: Box and gateway links of every test agent: inside 198.18.0.0/15, apart from the simulated
#: internet (198.18.0.0/16), so leftovers are recognised by their addresses.
EGRESS_POOL = "198.19.0.0/16"
#: How long a run waits for another run's boxes (a whole suite holds the lock).
BOXES_LOCK_S = 3600.0


def docker_api(method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A synchronous Engine API call for fixtures and assertions."""
    transport = httpx.HTTPTransport(uds=DOCKER_SOCKET)
    with httpx.Client(transport=transport, base_url="http://docker/v1.41", timeout=60) as client:
        return client.request(method, path, **kwargs)


def require_dockerd() -> None:
    try:
        docker_api("GET", "/_ping").raise_for_status()
    except httpx.HTTPError as exc:
        raise AssertionError(
            f"dockerd does not answer on {DOCKER_SOCKET} ({exc}); `make test` starts it"
        ) from exc


def new_host_id() -> str:
    return f"{TEST_PREFIX}{uuid.uuid4().hex[:12]}"


def _made_by_tests(container: dict[str, Any]) -> bool:
    """Test host ids start with ``t-``; hosts made through the daemon keep homes in /tmp."""
    if str((container.get("Labels") or {}).get(HOST_LABEL, "")).startswith(TEST_PREFIX):
        return True
    sources = [str(mount.get("Source", "")) for mount in container.get("Mounts") or []]
    return any(source.startswith("/tmp/cc-") for source in sources)


def test_containers() -> list[dict[str, Any]]:
    filters = json.dumps({"label": [f"{MANAGED_LABEL}=1"]})
    response = docker_api("GET", "/containers/json", params={"all": "1", "filters": filters})
    return [c for c in response.json() if _made_by_tests(c)]


def remove_leftovers(keep: Path | None = None) -> None:
    """Remove test containers, unmount test home volumes, delete stale state of earlier runs."""
    for container in test_containers():
        docker_api("DELETE", f"/containers/{container['Id']}", params={"force": "1"})
    remove_gateway_leftovers()
    for state in Path("/tmp").glob("cc-boxes-*"):
        # Disk images, their home binds and the shared bind of volumes/ onto itself.
        prefix = f"{state}/"
        for mount in deepest_first(m for m in read_mounts() if m.point.startswith(prefix)):
            subprocess.run(["umount", mount.point], check=False)
        if state != keep:
            shutil.rmtree(state, ignore_errors=True)


def agent_config(state_dir: Path) -> AgentConfig:
    return AgentConfig(
        docker_socket=DOCKER_SOCKET,
        state_dir=state_dir,
        instance="cc-tests",
        egress_pool=EGRESS_POOL,
    )


def build_image(state_dir: Path) -> str:
    """The box image from the real ``image/``, built only when its inputs changed."""

    async def ensure() -> str:
        docker = Docker(DOCKER_SOCKET)
        try:

            async def quiet(_stage: str, _percent: int, _message: str) -> None:
                pass

            built = await Images(docker, agent_config(state_dir)).ensure(quiet)
            return built.image
        finally:
            await docker.aclose()

    return trio.run(ensure)


def session_state_dir() -> Iterator[Path]:
    """The run's agent state; the machine-wide lock keeps another run from sweeping its boxes."""
    require_dockerd()
    with runlock.held("cloudclaude-test-boxes", BOXES_LOCK_S):
        remove_leftovers()
        path = pg.scratch_dir("cc-boxes-")
        try:
            yield path
        finally:
            remove_leftovers()


def read_banner(sock: socket.socket) -> bytes:
    sock.setblocking(True)
    sock.settimeout(10)
    with sock:
        return sock.recv(256)


async def back_to_the_runs_image(agent: Any, other_image: str) -> None:
    """After a test built ``other_image`` from changed inputs (its settings already put back):
    ``:latest`` on the run's image again (a no-op build) and ``other_image`` removed."""
    await agent.ensure_image()
    if not other_image:
        return
    docker = Docker(DOCKER_SOCKET)
    try:
        with contextlib.suppress(DockerError):
            await docker.call("DELETE", f"/images/{other_image}")
    finally:
        await docker.aclose()
