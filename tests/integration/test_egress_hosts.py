"""Egress through the daemon: exits bound over the API, verified at every start and on
demand, failures kept out of ``running`` with their codes, the kill switch seen as ``degraded``
and healed, and the reconciler sweeping gateway leftovers. Real agent, dockerd, Postgres,
sing-box and the simulated internet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import trio

from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.model.audit import AuditFilter
from tests.integration.box_exec import exec_in_host
from tests.integration.hoststack import Stack, host_id_of
from tests.integration.netsim import SimInternet


async def exit_id(stack: Stack, body: dict[str, Any], **changes: Any) -> str:
    body = {**body, **changes}
    status, made = await stack.call("POST", "/v1/admin/egress-ips", json=body)
    assert status == 201, made
    return str(made["id"])


async def host_on(stack: Stack, egress_ip_id: str | None) -> dict[str, Any]:
    user_id, _ = await stack.user()
    body: dict[str, Any] = {"user_id": user_id, "disk_gb": 1}
    if egress_ip_id is not None:
        body["egress_ip_id"] = egress_ip_id
    status, host = await stack.call("POST", "/v1/admin/hosts", json=body)
    assert status == 201, host
    assert (await stack.wait_task(host["task_id"]))["status"] == "succeeded"
    made: dict[str, Any] = host
    return made


async def start(stack: Stack, host: dict[str, Any]) -> dict[str, Any]:
    status, queued = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/start")
    assert status == 202, queued
    return await stack.wait_task(queued["task_id"])


def codes(task: dict[str, Any]) -> list[str]:
    return [event["code"] for event in task["events"]]


async def test_a_start_goes_through_the_bound_exit_and_is_verified(
    stack: Stack, sim_internet: SimInternet
) -> None:
    socks = sim_internet.exits()["socks5"]
    exit_ = await exit_id(stack, socks)
    host = await host_on(stack, exit_)
    task = await start(stack, host)
    assert task["status"] == "succeeded", task
    steps = codes(task)
    for code in ("net.ready", "egress.http", "egress.address", "egress.dns", "egress.verified"):
        assert code in steps, steps
    assert steps.index("egress.verified") < steps.index("ssh.ready")
    _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "running" and shown["egress_label"] == socks["label"]
    assert shown["egress_verified"] is True
    _, exit_row = await stack.call("GET", f"/v1/admin/egress-ips/{exit_}")
    assert exit_row["status"] == "ok" and exit_row["detected_ip"] == socks["expected_ip"]
    # The box's traffic leaves from the exit's address, as its own tools see it.
    reply = await exec_in_host(host["id"], ["curl", "-sS", "-m", "10", "http://whoami.sim.test/"])
    assert reply.stdout.strip() == socks["expected_ip"], reply

    status, queued = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/verify-egress")
    assert status == 202, queued
    again = await stack.wait_task(queued["task_id"])
    assert again["status"] == "succeeded" and "egress.verified" in codes(again), again


async def failed_start(stack: Stack, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    host = await host_on(stack, await exit_id(stack, body))
    task = await start(stack, host)
    assert task["status"] == "failed", task
    _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] != "running", shown
    assert not (await stack.services.agent.inspect_host(host["id"])).running
    return task, shown


async def test_a_wrong_expected_ip_keeps_the_host_out_of_running(
    stack: Stack, sim_internet: SimInternet
) -> None:
    body = sim_internet.exits()["socks5"]
    task, shown = await failed_start(
        stack, {**body, "label": "wrong-ip", "expected_ip": "198.18.2.200"}
    )
    assert task["error_code"] == "NET_005" and shown["error_code"] == "NET_005"
    assert "egress.address" in codes(task) and "egress.verified" not in codes(task)


async def test_a_resolver_outside_the_exit_fails_the_dns_check(
    stack: Stack, sim_internet: SimInternet
) -> None:
    body = sim_internet.exits()["socks5"]
    # The TXT answer names the exit's address; an exit claiming other resolvers is caught.
    task, _ = await failed_start(
        stack, {**body, "label": "other-dns", "expected_resolvers": ["198.18.1.54"]}
    )
    assert task["error_code"] == "NET_006", task


async def test_an_exit_that_is_down_fails_the_start_as_unreachable(
    stack: Stack, sim_internet: SimInternet
) -> None:
    body = sim_internet.exits()["socks5"]
    task, _ = await failed_start(stack, {**body, "label": "down", "port": 1081})
    assert task["error_code"] == "NET_004", task


async def test_a_host_without_an_exit_does_not_start(stack: Stack) -> None:
    host = await host_on(stack, None)
    _, binding = await stack.call("GET", f"/v1/admin/bindings?host_id={host['id']}")
    for item in binding["items"]:
        status, _ = await stack.call("DELETE", f"/v1/admin/bindings/{item['id']}")
        assert status in (200, 204)
    task = await start(stack, host)
    assert task["status"] == "failed" and task["error_code"] == "NET_001", task
    assert "container.started" not in codes(task)


async def test_a_dead_sing_box_degrades_the_host_until_verified_again(
    stack: Stack, sim_internet: SimInternet
) -> None:
    host = await host_on(stack, None)  # the default exit (direct through the simulated NAT)
    assert (await start(stack, host))["status"] == "succeeded"
    listing = await stack.services.agent.list_gateways()
    [gateway] = [g for g in listing.gateways if g.host_id == host["id"]]
    watch = stack.egress_watch()
    await watch.scan_once()  # the baseline
    os.kill(gateway.singbox_pid, signal.SIGKILL)
    with trio.fail_after(30):
        while not await watch.scan_once():
            await trio.sleep(0.2)
    _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] in ("degraded", "running"), shown
    tripped = AuditFilter(type="egress.killswitch.tripped", host_id=host_id_of(host))
    assert await audit_repo.count(stack.services.db, tripped) == 1
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    [verify] = tasks["items"]
    assert verify["kind"] == "verify_egress", verify
    done = await stack.wait_task(verify["id"])
    assert done["status"] == "succeeded" and "egress.verified" in codes(done), done
    _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "running" and shown["error_code"] is None, shown


async def test_the_reconciler_removes_gateway_leftovers(stack: Stack) -> None:
    host = await host_on(stack, None)
    assert (await start(stack, host))["status"] == "succeeded"
    listing = await stack.services.agent.list_gateways()
    [gateway] = [g for g in listing.gateways if g.host_id == host["id"]]
    # Forget the record as a crash would: netns, uplink and sing-box are now leftovers.
    state = Path(stack.live.current.agent.state_dir) / "gateways" / host["id"]
    (state / "state.json").unlink()
    listing = await stack.services.agent.list_gateways()
    kinds = sorted(item.split(":")[0] for item in listing.leftovers)
    assert kinds == ["link", "netns", "process"], listing.leftovers
    repairs = await stack.reconciler().reconcile_once()
    assert {r.action for r in repairs} >= {"removed_leftover"}, repairs
    assert not (await stack.services.agent.list_gateways()).leftovers
    assert not Path("/run/netns", gateway.netns).exists()
    assert subprocess.run(["kill", "-0", str(gateway.singbox_pid)], check=False).returncode


async def test_an_exit_is_tested_without_a_host_and_leaves_nothing(
    stack: Stack, sim_internet: SimInternet
) -> None:
    good = await exit_id(stack, sim_internet.exits()["vmess"])
    status, queued = await stack.call("POST", f"/v1/admin/egress-ips/{good}/test")
    assert status == 202, queued
    task = await stack.wait_task(queued["task_id"])
    assert task["status"] == "succeeded", task
    assert {"egress.probe", "egress.http", "egress.dns", "egress.verified"} <= set(codes(task))
    [udp] = [event for event in task["events"] if event["code"] == "egress.udp"]
    assert udp["message"].startswith("carried"), udp
    _, shown = await stack.call("GET", f"/v1/admin/egress-ips/{good}")
    assert shown["status"] == "ok", shown

    down = await exit_id(stack, {**sim_internet.exits()["socks5"], "label": "off", "port": 1081})
    _, queued = await stack.call("POST", f"/v1/admin/egress-ips/{down}/test")
    task = await stack.wait_task(queued["task_id"])
    assert task["status"] == "failed" and task["error_code"] == "NET_004", task
    _, shown = await stack.call("GET", f"/v1/admin/egress-ips/{down}")
    assert shown["status"] == "failed", shown
    listing = await stack.services.agent.list_gateways()
    assert not listing.gateways and not listing.leftovers, listing
    status, missing = await stack.call("POST", f"/v1/admin/egress-ips/{uuid.uuid4()}/test")
    assert status == 404 and missing["error"]["code"] == "NET_009", missing


async def test_a_hosts_allowlist_is_applied_at_start_and_edited_while_it_runs(
    stack: Stack, sim_internet: SimInternet
) -> None:
    host = await host_on(stack, None)
    path = f"/v1/admin/hosts/{host['id']}/allowlist"
    status, bad = await stack.call("PUT", path, json={"domains": ["not a domain"]})
    assert status == 422 and bad["error"]["slug"] == "validation_failed", bad
    status, shown = await stack.call("PUT", path, json={"domains": ["Allowed.Sim.Test."]})
    assert status == 200 and shown["allowed_domains"] == ["allowed.sim.test"], shown
    task = await start(stack, host)  # verification still reaches the exit's endpoints
    assert task["status"] == "succeeded" and "egress.verified" in codes(task), task
    exit_ip = sim_internet.direct_exit()["expected_ip"]

    async def fetch(url: str) -> str:
        argv = ["sh", "-c", f"curl -sS -m 5 {url} || echo refused"]
        return (await exec_in_host(host["id"], argv)).stdout.strip()

    assert await fetch("http://allowed.sim.test/") == exit_ip
    assert await fetch("http://other.sim.test/") == "refused"
    status, _ = await stack.call("PUT", path, json={"domains": []})
    assert status == 200
    with trio.fail_after(10):
        while await fetch("http://other.sim.test/") != exit_ip:
            await trio.sleep(0.2)
    events = AuditFilter(type="admin.host.action", host_id=host_id_of(host))
    found = await audit_repo.list_recent(stack.services.db, events, limit=50)
    lists = [e.metadata["domains"] for e in found if e.metadata["action"] == "allowlist"]
    assert lists == [[], ["allowed.sim.test"]], lists


async def test_a_direct_exit_without_endpoints_starts_unverified(
    stack: Stack, sim_internet: SimInternet
) -> None:
    body = {
        key: value
        for key, value in sim_internet.direct_exit().items()
        if key not in ("verify_url", "verify_dns_name")
    }
    status, refused = await stack.call(
        "POST",
        "/v1/admin/egress-ips",
        json={k: v for k, v in sim_internet.exits()["socks5"].items() if "verify" not in k},
    )
    assert status == 422 and refused["error"]["code"] == "NET_008", refused  # only direct may
    host = await host_on(stack, await exit_id(stack, {**body, "label": "lan"}))
    task = await start(stack, host)
    assert task["status"] == "succeeded", task
    assert "egress.unverified" in codes(task) and "egress.http" not in codes(task)
    _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "running" and shown["egress_verified"] is False, shown


async def test_an_exit_without_udp_verifies_and_its_test_says_so(
    stack: Stack, sim_internet: SimInternet
) -> None:
    # microsocks does CONNECT only, as ssh -D does: DNS over TCP lets its hosts start.
    micro = await exit_id(stack, sim_internet.other_exit_body("microsocks"))
    status, queued = await stack.call("POST", f"/v1/admin/egress-ips/{micro}/test")
    assert status == 202, queued
    task = await stack.wait_task(queued["task_id"])
    assert task["status"] == "succeeded" and "egress.verified" in codes(task), task
    [udp] = [event for event in task["events"] if event["code"] == "egress.udp"]
    assert udp["message"].startswith("not carried") and "udp: false" in udp["message"], udp
    status, _ = await stack.call(
        "PUT",
        f"/v1/admin/egress-ips/{micro}",
        json={**sim_internet.other_exit_body("microsocks"), "udp": False},
    )
    assert status == 200
    host = await host_on(stack, micro)
    assert (await start(stack, host))["status"] == "succeeded"
    probe = (
        "python3 -c \"import socket; s=socket.socket(2,2); s.connect(('198.18.1.1',9)); "
        "s.send(b'x'); s.settimeout(2); s.recv(9)\" 2>&1 | tail -1"
    )
    reply = await exec_in_host(host["id"], ["sh", "-c", probe])
    assert "ConnectionRefusedError" in reply.stdout, reply
    assert (await stack.services.agent.egress_counters())["drop_udp"] > 0


async def test_an_exit_that_goes_down_degrades_its_hosts_and_they_come_back_with_it(
    stack: Stack, sim_internet: SimInternet
) -> None:
    sim = sim_internet
    body = sim.other_exit_body("microsocks")
    exit_ = await exit_id(stack, body, label="goes-down")
    hosts = [await host_on(stack, exit_) for _ in range(2)]
    for host in hosts:
        assert (await start(stack, host))["status"] == "succeeded"
    watch = stack.egress_watch()
    assert await watch.check_exits_once() == {uuid.UUID(exit_): True}
    try:
        sim.stop_server("microsocks")
        # One pass of the watch (it runs every egress.watch_interval_s) sees the exit down.
        assert await watch.check_exits_once() == {uuid.UUID(exit_): False}
        for host in hosts:
            _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
            assert shown["status"] == "degraded" and shown["error_code"] == "NET_004", shown
        _, exit_row = await stack.call("GET", f"/v1/admin/egress-ips/{exit_}")
        assert exit_row["status"] == "failed", exit_row
        # Nothing gets out another way meanwhile, name lookups included.
        sim.reset_counters()
        before = len(sim.dns_queries())
        fetch = "curl -sS -m 3 http://whoami.sim.test/ http://198.18.1.1/ || echo unreachable"
        reply = await exec_in_host(hosts[0]["id"], ["sh", "-c", fetch])
        assert reply.stdout.strip().endswith("unreachable"), reply
        assert sim.counters()["services"] == 0 and sim.counters()["other"] == 0
        assert sim.dns_queries()[before:] == []
    finally:
        sim.start_server("microsocks")
    assert await watch.check_exits_once() == {uuid.UUID(exit_): True}
    recovered = AuditFilter(type="egress.exit.recovered")
    assert await audit_repo.count(stack.services.db, recovered) == len(hosts)
    for host in hosts:
        _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
        [verify] = tasks["items"]
        assert verify["kind"] == "verify_egress", verify
        done = await stack.wait_task(verify["id"])
        assert done["status"] == "succeeded" and "egress.verified" in codes(done), done
        _, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
        assert shown["status"] == "running" and shown["error_code"] is None, shown
        reply = await exec_in_host(host["id"], ["curl", "-sS", "-m", "10", "http://198.18.1.1/"])
        assert reply.stdout.strip() == body["expected_ip"], reply
