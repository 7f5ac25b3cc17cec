"""Running a command in a box, for tests and benchmarks: the harness acting as an operator.

The agent protocol has no "exec any argv" (a compromised daemon must not get one), so tests
that look inside a box exec through dockerd themselves, as root on the test machine, exactly as
an operator would with ``docker exec``. Same call shape as the old ``Agent.exec_in_host``.
"""

from __future__ import annotations

import attrs

from agent.config import DockerLimits
from agent.ops.docker import Docker
from agent.ops.names import container_name
from tests.integration.boxes import DOCKER_SOCKET

#: A test's own command may run long (a 1 GB ``dd``, a 500 MB download) and print a little more
#: than the agent's probes may; still bounded.
LIMITS = DockerLimits(exec_s=900.0, exec_output_max_bytes=16 * 1024 * 1024)


@attrs.frozen(kw_only=True)
class BoxExec:
    exit_code: int
    stdout: str
    stderr: str


async def exec_in_host(host_id: str, argv: list[str], user: str = "") -> BoxExec:
    """Run ``argv`` (never a shell string) as ``user`` in the running box of ``host_id``."""
    docker = Docker(DOCKER_SOCKET, LIMITS)
    try:
        result = await docker.exec(container_name(host_id), argv, user=user)
    finally:
        await docker.aclose()
    return BoxExec(
        exit_code=result.exit_code,
        stdout=result.stdout.decode(errors="replace"),
        stderr=result.stderr.decode(errors="replace"),
    )
