"""A box resolves its own hostname, so ``sudo`` does not warn "unable to resolve host".

dockerd writes the container's /etc/hosts; with ``--network=none`` it leaves the hostname out,
and the agent's create body puts it back through ``HostConfig.ExtraHosts`` (real dockerd).
"""

from __future__ import annotations

from collections.abc import Callable

from cloudclaude.agent_client.handle import Agent
from tests.integration.test_boxes import run, started


async def test_the_hostname_resolves_and_sudo_does_not_warn(
    box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    name = await run(box_agent, host_id, "hostname")
    assert name.stdout.strip() == f"box-{host_id[:8]}", name
    found = await run(box_agent, host_id, 'getent hosts "$(hostname)"')
    assert found.exit_code == 0, found
    assert found.stdout.split() == ["127.0.1.1", f"box-{host_id[:8]}"], found
    sudo = await run(box_agent, host_id, "sudo -n true")
    assert sudo.exit_code == 0, sudo
    assert "unable to resolve host" not in sudo.stderr, sudo
    assert sudo.stderr == "", sudo
