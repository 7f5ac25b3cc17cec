"""The kill-switch watch outlives any one gateway's failure, and the daemon can see the count.

Fakes only: gateway records in a scratch state directory, and a sing-box liveness check that
raises for one gateway as an unexpected bug would.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import trio

from agent.config import AgentConfig
from agent.dispatch import Dispatcher
from agent.egress import singbox_process
from agent.egress.gateways import Gateways
from agent.egress.records import GatewayRecord, Records
from agent.protocol import messages as m
from agent.runtime import Runtime
from cloudclaude.agent_client.client import embedded
from tests.polling import until


def _gateways(tmp_path: Path) -> Gateways:
    config = AgentConfig(state_dir=tmp_path, egress_watch_s=0.01)
    return Gateways(config, containers=None)  # type: ignore[arg-type]  # the watch needs none


async def test_a_gateway_whose_check_raises_is_counted_and_the_watch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateways = _gateways(tmp_path)
    await gateways.records.save(GatewayRecord(host_id="broken", slot=1, pid=101))
    await gateways.records.save(GatewayRecord(host_id="healthy", slot=2, pid=102))
    checked: Counter[str] = Counter()

    def alive(_pid: int, config: Path) -> bool:
        host_id = config.parent.name
        checked[host_id] += 1
        if host_id == "broken":
            raise RuntimeError("an unexpected bug")
        return True

    monkeypatch.setattr(singbox_process, "alive", alive)

    async def three_rounds() -> bool:
        return gateways.watch_errors >= 3 and checked["healthy"] >= 3

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(gateways.watch)
            await until(three_rounds, interval=0.01)
            nursery.cancel_scope.cancel()
    assert gateways.watch_errors == checked["broken"]


async def test_an_unreadable_gateway_directory_is_counted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateways = _gateways(tmp_path)

    async def unreadable(_self: Records) -> list[GatewayRecord]:
        raise PermissionError("gateways")

    monkeypatch.setattr(Records, "all", unreadable)

    async def counted() -> bool:
        return gateways.watch_errors >= 2

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(gateways.watch)
            await until(counted, interval=0.01)
            nursery.cancel_scope.cancel()


async def test_the_gateway_list_reply_carries_the_watch_error_count(tmp_path: Path) -> None:
    runtime = Runtime(AgentConfig(state_dir=tmp_path))
    runtime.gateways.watch_errors = 4

    async def nothing() -> tuple[list[m.EgressState], list[str]]:
        return [], []

    runtime.gateways.list_all = nothing  # type: ignore[method-assign]
    try:
        async with embedded(_dispatcher(runtime)) as client:
            reply = await client.request(m.ListGateways(id=0))
    finally:
        await runtime.docker.aclose()
    assert isinstance(reply, m.GatewayList)
    assert reply.watch_errors == 4


def _dispatcher(runtime: Runtime) -> Dispatcher:
    dispatcher = Dispatcher()
    runtime.register(dispatcher)
    return dispatcher
