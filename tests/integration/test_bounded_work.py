"""Bounded work against real boxes on the real dockerd: root in a box makes ``/bin/sh`` print
``yes`` forever, or never exit, or floods the container log. The agent's own commands in that
box end with a registry code at their cap or deadline and are killed, the agent's memory stays
flat, and the activity probe (read from the host) keeps answering for every box meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import pytest
import trio

from agent import errors
from agent.config import DockerLimits
from agent.ops.names import container_name
from agent.protocol import messages as m
from agent.runtime import Runtime
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes
from tests.integration.box_exec import exec_in_host
from tests.integration.processes import rss
from tests.polling import until

#: Small enough that the test is quick; the defaults (10 s, 64 KiB) bound the same way.
LIMITS = DockerLimits(exec_s=3.0, exec_output_max_bytes=64 * 1024, logs_max_bytes=256 * 1024)
#: What the agent process may grow by while boxes try to flood it (it would be gigabytes).
RSS_SLACK = 24 * 1024 * 1024


async def nothing(_stage: str, _percent: int, _message: str) -> None:
    pass


@pytest.fixture
async def runtime(box_agent: Agent, boxes_state: Path) -> AsyncIterator[Runtime]:
    """The agent's handlers with the test's caps (``box_agent`` cleans the boxes up)."""
    made = Runtime(attrs.evolve(boxes.agent_config(boxes_state), docker_limits=LIMITS))
    try:
        yield made
    finally:
        await made.docker.aclose()


async def running_box(agent: Agent, new_host: Callable[[], str]) -> str:
    host_id = new_host()
    await agent.create_host(host_id, m.BoxSpec(disk_gb=1, cpus=0.5))
    assert (await agent.start_host(host_id)).running
    return host_id


async def replace_sh(host_id: str, body: str) -> None:
    """Root in the box turns ``/bin/sh`` into a script (``dash`` itself stays usable)."""
    script = f"rm -f /bin/sh && printf '#!/bin/dash\\n{body}\\n' >/bin/sh && chmod 755 /bin/sh"
    assert (await exec_in_host(host_id, ["dash", "-c", script], "root")).exit_code == 0


def box_processes(host_id: str, name: str) -> int:
    """How many processes called ``name`` run in the box (dockerd's view, from outside)."""
    path = f"/containers/{container_name(host_id)}/top"
    top = boxes.docker_api("GET", path, params={"ps_args": "-o pid,comm"}).json()
    return sum(1 for row in top["Processes"] or [] if row[-1] == name)


async def activity(runtime: Runtime, host_id: str) -> m.ActivityReply:
    reply = await runtime.host_activity(m.HostActivity(id=1, host_id=host_id), nothing)
    assert isinstance(reply, m.ActivityReply)
    return reply


async def test_a_box_whose_sh_prints_forever_costs_a_capped_read(
    runtime: Runtime, box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = await running_box(box_agent, new_host)
    await replace_sh(host_id, "yes")
    before = rss()
    for _ in range(5):
        with trio.fail_after(60):  # a hang guard only: the cap ends each call
            with pytest.raises(errors.AgentError) as flood:
                await runtime.docker.exec(container_name(host_id), ["sh", "-c", "true"])
        assert flood.value.code == errors.BOX_EXEC_OUTPUT_TOO_LARGE
    assert rss() - before < RSS_SLACK

    async def killed() -> bool:
        return box_processes(host_id, "yes") == 0

    with trio.fail_after(30):  # abandoned commands do not live on in the box
        await until(killed, interval=0.1)
    assert (await activity(runtime, host_id)).cpu_s > 0  # nothing run in the box: still answers


async def test_a_command_that_never_exits_is_killed_at_its_deadline_while_others_answer(
    runtime: Runtime, box_agent: Agent, new_host: Callable[[], str]
) -> None:
    stuck, other = await running_box(box_agent, new_host), await running_box(box_agent, new_host)
    await replace_sh(stuck, "exec sleep 100000")
    outcome: list[str] = []
    answered_meanwhile: list[bool] = []

    async def probe_stuck() -> None:
        try:
            await runtime.docker.exec(container_name(stuck), ["sh", "-c", "true"])
        except errors.AgentError as exc:
            outcome.append(exc.code)

    with trio.fail_after(60):  # a hang guard only: the deadline ends the call
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe_stuck)
            await trio.sleep(0.5)  # the command is running in the box by now
            for host_id in (other, stuck):  # the scanner's look at every box answers
                reply = await activity(runtime, host_id)
                answered_meanwhile.append(reply.cpu_s > 0 and not outcome)
    assert outcome == [errors.BOX_EXEC_TIMEOUT]
    assert answered_meanwhile == [True, True]
    assert box_processes(stuck, "sleep") == 0  # killed, not left behind


async def test_a_flooded_container_log_is_read_up_to_its_cap(
    runtime: Runtime, box_agent: Agent, new_host: Callable[[], str]
) -> None:
    host_id = await running_box(box_agent, new_host)
    flood = "head -c 20000000 /dev/zero | tr '\\0' y >/proc/1/fd/1"
    assert (await exec_in_host(host_id, ["dash", "-c", flood], "root")).exit_code == 0
    before = rss()
    reply = await runtime.host_logs(m.HostLogs(id=1, host_id=host_id, tail=5000), nothing)
    assert isinstance(reply, m.LogsReply)
    assert rss() - before < RSS_SLACK
    assert "y" * 4096 in reply.text and len(reply.text) <= 2 * LIMITS.logs_max_bytes
