"""Exits for the benchmarks that start boxes: the simulated internet of the integration tests.

A host starts only with an exit bound to it (DESIGN.md section 7), and benchmarks send traffic
only to loopback and to namespaces the project makes (198.18.0.0/15). So every benchmark that
starts a box runs ``tests/integration/netsim.py``'s simulated internet (netns ``ccsim-inet``:
whoami, a logging DNS server, a sing-box serving every exit kind) for as long as it measures,
and binds its hosts to one of those exits:

- through the daemon (a subprocess or services in-process): ``daemon_env`` / ``egress_settings``
  make new hosts take the exit labelled ``sim-direct``, which ``add_exit`` creates over the
  admin API (or the benchmark with ``services.exits.create``);
- through an agent called directly (embedded with ``agent_config``, or either mode with
  ``bench.agents``): ``SimExit.bring_up``, what a start does after the container runs (gateway,
  then the triple verification judged as the daemon judges it).

``simulated_internet`` first takes the lock a test run holds while it uses boxes
(``/run/lock/cloudclaude-test-boxes.lock``), then the simulated internet takes its own
(``/run/lock/ccsim.lock``): a benchmark waits while a test run holds either. Gateways use the
test pool (``198.19.0.0/16``), apart from the simulated internet.
``clear_agent`` removes whatever an agent still has (containers, gateways, home volumes).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from agent.config import AgentConfig
from agent.ops.volumes import is_mounted
from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent, instance_of, open_agent
from cloudclaude.agent_client.handle import agent_config as agent_config_of
from cloudclaude.core.logging import configure
from cloudclaude.core.settings import AgentSettings, EgressSettings, Settings
from cloudclaude.domain.egress_check import judge
from tests.integration import runlock
from tests.integration.boxes import BOXES_LOCK_S, EGRESS_POOL
from tests.integration.netsim import SimInternet, running_sim

#: The kind every benchmark start uses unless it says otherwise (as the tests' stacks do).
DEFAULT_KIND = "direct"
VERIFY_TIMEOUT_S = EgressSettings().verify_timeout_s
#: The lock a test run holds while it uses boxes (``tests/integration/boxes.py``).
BOXES_LOCK = "cloudclaude-test-boxes"


@contextlib.contextmanager
def simulated_internet() -> Iterator[SimInternet]:
    """The simulated internet, started (after any test run holding it) and always stopped.

    Takes the tests' machine-wide locks in their order: the boxes' first, then the simulated
    internet's own (``SimInternet.start``), so a test run and a benchmark never sweep each
    other's boxes and gateways as leftovers; the boxes' is released last.
    """
    print("waiting for test runs using boxes or the simulated internet ...", flush=True)
    with runlock.held(BOXES_LOCK, BOXES_LOCK_S):
        print("starting the simulated internet ...", flush=True)
        yield from running_sim()


def exit_label(sim: SimInternet, kind: str = DEFAULT_KIND) -> str:
    return str(sim.exit_body(kind)["label"])


def daemon_env(sim: SimInternet) -> dict[str, str]:
    """``cloudclaude run`` settings: the test pool, new hosts bound to the ``direct`` exit."""
    return {
        "CLOUDCLAUDE_AGENT__EGRESS_POOL": EGRESS_POOL,
        "CLOUDCLAUDE_EGRESS__DEFAULT_EXIT": exit_label(sim),
    }


def egress_settings(sim: SimInternet) -> EgressSettings:
    """In-process daemon services: new hosts bound to the ``direct`` exit."""
    return EgressSettings(default_exit=exit_label(sim))


async def add_exit(client: httpx.AsyncClient, sim: SimInternet, kind: str = DEFAULT_KIND) -> None:
    """Create the simulated internet's ``kind`` exit over the admin API (``client`` is admin)."""
    answer = await client.post("/v1/admin/egress-ips", json=sim.exit_body(kind))
    if answer.status_code != 201:
        raise RuntimeError(f"creating exit sim-{kind}: {answer.status_code} {answer.text}")


def agent_config(state_dir: Path) -> AgentConfig:
    """An embedded agent of one benchmark run: an instance of its own (``clear_agent`` removes
    only what it made), gateways in the test pool."""
    return AgentConfig(
        state_dir=state_dir, instance=instance_of(state_dir), egress_pool=EGRESS_POOL
    )


@attrs.frozen
class SimExit:
    """One exit of the simulated internet as an embedded agent's start uses it."""

    kind: str
    spec: m.ExitSpec
    body: dict[str, Any]

    @classmethod
    def of(cls, sim: SimInternet, kind: str = DEFAULT_KIND) -> SimExit:
        return cls(kind, sim.exit_spec(kind), sim.exit_body(kind))

    async def bring_up(self, agent: Agent, host_id: str) -> None:
        """Gateway for a running box, then verification from inside it (as a start does)."""
        await agent.setup_egress(host_id, m.GatewaySpec(exit=self.spec))
        await self.verify(agent, host_id)

    async def verify(self, agent: Agent, host_id: str) -> None:
        body = self.body
        reply = await agent.verify_egress(
            host_id,
            url=body["verify_url"],
            dns_name=body["verify_dns_name"],
            timeout_s=VERIFY_TIMEOUT_S,
        )
        verdict = judge(
            reply,
            url=body["verify_url"],
            expected_ip=body["expected_ip"],
            dns_name=body["verify_dns_name"],
            expected_resolvers=[body["dns_server"], body["expected_ip"]],
        )
        failed = verdict.failure
        if failed is not None:
            raise RuntimeError(
                f"egress of {host_id} via {self.kind}: {failed.name}: {failed.detail}"
            )


async def clear_agent(agent: Agent) -> list[str]:
    """Remove every host, gateway and home volume of ``agent`` (shielded); what failed."""
    problems: list[str] = []
    with trio.CancelScope(shield=True):
        listed = await agent.list_hosts()
        gateways = await agent.list_gateways()
        ids = {host.host_id for host in listed.hosts} | set(listed.volumes)
        for host_id in sorted(ids):
            try:
                await agent.remove_host(host_id, purge=True)
            except AgentError as exc:
                problems.append(f"host {host_id}: {exc}")
        for gateway in gateways.gateways:
            if gateway.host_id not in ids:
                try:
                    await agent.teardown_egress(gateway.host_id)
                except AgentError as exc:
                    problems.append(f"gateway {gateway.host_id}: {exc}")
        try:
            await agent.sweep_gateways()  # namespaces, links, processes of no known gateway
        except AgentError as exc:
            problems.append(f"gateway leftovers: {exc}")
    return problems


def clear_daemon_agent(state_dir: Path) -> None:
    """After ``cloudclaude run`` with this state directory exited: remove what its agent left.

    The daemon leaves gateways running on purpose (a restarted agent adopts them); an embedded
    agent with the daemon's own state directory, instance and pool removes them with the boxes.
    Any home volume still mounted is unmounted last, so the state directory can be deleted.
    """
    configure("warning", "console")
    settings = Settings(
        state_dir=str(state_dir), agent=AgentSettings(mode="embedded", egress_pool=EGRESS_POOL)
    )

    async def clear() -> list[str]:
        async with open_agent(settings) as agent:
            return await clear_agent(agent)

    try:
        for problem in trio.run(clear):
            print(f"could not remove {problem}", flush=True)
    finally:
        volumes = agent_config_of(settings).state_dir / "volumes"
        for mountpoint in volumes.glob("*") if volumes.is_dir() else []:
            if is_mounted(mountpoint):
                subprocess.run(["umount", str(mountpoint)], check=False)
