"""The reconciler, the expiry and the idle scanner against real boxes, tasks and Postgres."""

from __future__ import annotations

import uuid

import attrs
import trio

from agent.protocol import messages as m
from cloudclaude.background.expiry import ExpiryScanner
from cloudclaude.background.idle import IdleScanner
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.domain import host_states
from tests.integration import boxes
from tests.integration.box_exec import exec_in_host
from tests.integration.hoststack import Stack, host_id_of
from tests.polling import until


async def test_reconciler_restarts_a_host_whose_container_vanished(stack: Stack) -> None:
    host = await stack.running_host()
    gone = boxes.docker_api("DELETE", f"/containers/cloudclaude-{host['id']}", params={"force": 1})
    assert gone.status_code == 204
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(host["id"], "start")]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert (await stack.wait_task(tasks["items"][0]["id"]))["status"] == "succeeded"
    assert (await stack.services.agent.inspect_host(host["id"])).running
    assert await stack.host_status(host["id"]) == "running"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=reconcile.host.drift&host_id={host['id']}"
    )
    assert events["items"][0]["metadata"]["reason"] == "container missing"
    reconciler = stack.reconciler()
    assert await reconciler.reconcile_once() == []  # nothing left to repair
    metrics = stack.services.metrics.render().decode()
    assert 'cloudclaude_hosts{status="running"} 1.0' in metrics
    assert 'cloudclaude_reconciler_repairs_total{action="start"} 1.0' in metrics


async def test_reconciler_stops_a_container_running_behind_a_stopped_host(stack: Stack) -> None:
    host = await stack.running_host()
    _, stopped = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/stop")
    await stack.wait_task(stopped["task_id"])
    boxes.docker_api("POST", f"/containers/cloudclaude-{host['id']}/start")
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(host["id"], "stop")]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    await stack.wait_task(tasks["items"][0]["id"])
    assert not (await stack.services.agent.inspect_host(host["id"])).running


async def test_reconciler_removes_a_container_without_a_host(stack: Stack) -> None:
    stray = str(uuid.uuid4())
    await stack.services.agent.create_host(stray, m.BoxSpec(disk_gb=1))
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(stray, "removed_container")]
    assert not (await stack.services.agent.inspect_host(stray)).exists
    await stack.services.agent.remove_host(stray, purge=True)


async def test_reconciler_gives_up_after_bounded_repairs(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user()
    _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")
    db = idle_stack.services.db
    # The host looks running (through the state machine's moves) but has no container.
    assert await host_states.compare_and_set(db, host_id_of(host), {"pending"}, "starting")
    assert await host_states.compare_and_set(
        db, host_id_of(host), {"starting"}, "running", desired_state="running"
    )
    reconciler = idle_stack.reconciler()
    for _ in range(2):  # reconcile_max_repairs = 2: two repair tasks, which never run here
        [repair] = await reconciler.reconcile_once()
        assert repair.action == "start"
        _, tasks = await idle_stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
        await idle_stack.call("POST", f"/v1/admin/tasks/{tasks['items'][0]['id']}/cancel")
    [repair] = await reconciler.reconcile_once()
    assert repair.action == "gave_up"
    _, shown = await idle_stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "failed" and shown["error_code"] == "STATE_006"
    assert await reconciler.reconcile_once() == []  # failed hosts are left to an admin


async def test_expired_users_hosts_are_stopped(stack: Stack) -> None:
    host = await stack.running_host()
    status, _ = await stack.call(
        "POST",
        f"/v1/admin/users/{host['user_id']}/expiry",
        json={"expires_at": "2020-01-01T00:00:00Z"},
    )
    assert status == 200
    scanner = ExpiryScanner(stack.services.accounts, stack.services.hosts, stack.live, trio.Event())
    assert await scanner.scan_once() == 1
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert tasks["items"][0]["kind"] == "stop"
    await stack.wait_task(tasks["items"][0]["id"])
    assert await stack.host_status(host["id"]) == "stopped"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=host.stop.expired&host_id={host['id']}"
    )
    assert events["total"] == 1


async def test_the_agent_reads_the_boxs_and_claudes_cpu_from_the_host(stack: Stack) -> None:
    host = await stack.running_host()
    agent = stack.services.agent
    quiet = await agent.host_activity(host["id"])
    assert quiet.claude_processes == 0 and quiet.claude_cpu_s == 0
    assert quiet.cpu_s > 0 and quiet.started_at  # booting used some
    burner = "cp /usr/bin/yes /tmp/claude && (/tmp/claude >/dev/null 2>&1 &)"
    await exec_in_host(host["id"], ["sh", "-c", burner], "claude")

    async def burning() -> m.ActivityReply | None:  # Claude Code (by name) keeps using CPU
        reply = await agent.host_activity(host["id"])
        return reply if reply.claude_cpu_s - quiet.claude_cpu_s >= 0.5 else None

    with trio.fail_after(30):
        busy = await until(burning, interval=0.1)
    assert busy.claude_processes == 1 and busy.started_at == quiet.started_at
    assert busy.cpu_s - quiet.cpu_s >= busy.claude_cpu_s  # the box's CPU includes Claude's


async def test_cpu_the_box_burns_counts_as_use(stack: Stack) -> None:
    host = await stack.running_host()
    live = stack.live
    live.current = attrs.evolve(
        live.current, scanners=attrs.evolve(live.current.scanners, idle_box_cpu_s=0.2)
    )
    scanner = IdleScanner(stack.services.hosts, stack.services.agent, live, trio.Event())
    await scanner.scan_once()  # the first look: counters to compare with
    before = (await stack.services.hosts.get(host_id_of(host))).last_activity_at
    burner = "(yes >/dev/null 2>&1 &)"  # no Claude Code: any process of the box counts
    await exec_in_host(host["id"], ["sh", "-c", burner], "claude")

    async def stamped() -> bool:
        assert await scanner.scan_once() == []
        after = (await stack.services.hosts.get(host_id_of(host))).last_activity_at
        return after is not None and before is not None and after > before

    with trio.fail_after(30):
        await until(stamped, interval=0.5)


async def test_an_idle_host_is_stopped_and_audited(stack: Stack) -> None:
    host = await stack.running_host()
    await hosts_repo.update(stack.services.db, host_id_of(host), idle_stop_after_s=1)
    scanner = IdleScanner(
        stack.services.hosts, stack.services.agent, stack.live, trio.Event(), stack.services.metrics
    )
    with trio.fail_after(30):  # a scan stops it once it has been idle for a second
        stopped = await until(scanner.scan_once, interval=0.1)
    assert stopped == [host_id_of(host)]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert tasks["items"][0]["kind"] == "stop"
    await stack.wait_task(tasks["items"][0]["id"])
    assert await stack.host_status(host["id"]) == "stopped"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=host.idle.stopped&host_id={host['id']}"
    )
    assert events["total"] == 1
