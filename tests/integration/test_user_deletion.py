"""Deleting users whose hosts were deleted, and with ``with_hosts`` their live hosts first: the
API, the page's confirm form and ``cloudclaudectl users delete --with-hosts`` against real
Postgres; the whole path with the real task workers, agent and dockerd."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.ctl.server import CtlServer
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.model.audit import Actor, AuditFilter
from cloudclaude.model.hosts import Host, HostLimits
from tests.integration.conftest import random_name
from tests.integration.ctlserver import ctl_run
from tests.integration.hoststack import Stack
from tests.integration.test_pages import PASSWORD, sign_in

ACTOR = Actor(name="test")


async def _user_with_hosts(services: Services, n: int) -> tuple[uuid.UUID, str, list[Host]]:
    name = random_name()
    user, _ = await services.accounts.create(ACTOR, username=name, max_hosts=n, password=PASSWORD)
    hosts = []
    for _ in range(n):
        host, _, task = await services.hosts.create(
            ACTOR, user_id=user.id, limits=HostLimits(disk_gb=1)
        )
        await services.tasks.cancel(ACTOR, str(task.id))  # no worker here: end it at once
        hosts.append(host)
    return user.id, name, hosts


async def _finish_deletion(services: Services, host: Host) -> None:
    """What the delete task's worker ends with (there is no worker in these tests)."""
    await hosts_repo.write(services.db, host.id, fields={"status": "deleted"})


async def _events(services: Services, **filters: Any) -> list[Any]:
    return (await services.audit.page(AuditFilter(**filters), limit=100)).items


async def test_a_user_whose_hosts_were_all_deleted_is_deleted_and_the_rows_stay(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    user_id, name, hosts = await _user_with_hosts(services, 2)
    for host in hosts:
        await _finish_deletion(services, host)
    client = app.test_client()
    gone = await client.delete(f"/v1/admin/users/{user_id}", headers=admin["headers"])
    assert gone.status_code == 204, await gone.get_data(as_text=True)
    assert await users_repo.get(services.db, user_id) is None
    for host in hosts:
        kept = await hosts_repo.get(services.db, host.id)
        assert kept is not None and kept.status == "deleted"
        assert kept.user_id == user_id  # the former owner, as the audit events name them
        created = await _events(services, host_id=host.id, type="admin.host.action")
        assert sorted(e.metadata["action"] for e in created) == ["cancel", "create"]
        assert all(e.user_id == user_id for e in created if e.metadata["action"] == "create")
    deleted = await _events(services, user_id=user_id, type="admin.user.deleted")
    assert len(deleted) == 1
    assert deleted[0].metadata["username"] == name
    assert deleted[0].metadata["deleted_hosts_kept"] == 2
    # The name is free again, and the kept rows count against nobody.
    again, _ = await services.accounts.create(ACTOR, username=name, max_hosts=1)
    await services.hosts.create(ACTOR, user_id=again.id, limits=HostLimits(disk_gb=1))


async def test_live_hosts_block_without_with_hosts_and_the_database_agrees(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    user_id, name, (live, dead) = await _user_with_hosts(services, 2)
    await _finish_deletion(services, dead)
    client = app.test_client()
    refused = await client.delete(f"/v1/admin/users/{user_id}", headers=admin["headers"])
    assert refused.status_code == 409
    body = await refused.get_json()
    assert body["error"]["code"] == "STATE_016" and body["error"]["slug"] == "user_has_hosts"
    assert "with_hosts" in body["error"]["message"] and live.short_id in body["error"]["message"]
    bad = await client.delete(
        f"/v1/admin/users/{user_id}?with_hosts=maybe", headers=admin["headers"]
    )
    assert bad.status_code == 400
    with pytest.raises(DatabaseError):  # a host that is not deleted always has its owner
        await users_repo.delete(services.db, user_id)
    assert (await services.accounts.get(user_id)).username == name
    assert await _events(services, user_id=user_id, type="admin.user.deleted") == []


async def test_with_hosts_queues_delete_tasks_once_then_deletes_the_user(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    user_id, _, hosts = await _user_with_hosts(services, 2)
    client = app.test_client()
    url = f"/v1/admin/users/{user_id}?with_hosts=true"
    first = await client.delete(url, headers=admin["headers"])
    assert first.status_code == 202, await first.get_data(as_text=True)
    body = await first.get_json()
    assert body["user_deleted"] is False and body["next"]
    assert sorted(t["host_id"] for t in body["tasks"]) == sorted(str(h.id) for h in hosts)
    assert {t["kind"] for t in body["tasks"]} == {"delete"}
    for host in hosts:
        shown = await hosts_repo.get(services.db, host.id)
        assert shown is not None and shown.desired_state == "deleted"
    # Asking again queues nothing new: the same tasks come back.
    second = await (await client.delete(url, headers=admin["headers"])).get_json()
    assert {t["id"] for t in second["tasks"]} == {t["id"] for t in body["tasks"]}
    actions = await _events(services, user_id=user_id, type="admin.host.action")
    assert sorted(e.metadata["action"] for e in actions).count("delete") == 2
    for host in hosts:
        await _finish_deletion(services, host)
    done = await client.delete(url, headers=admin["headers"])
    assert done.status_code == 204
    assert await users_repo.get(services.db, user_id) is None


async def test_ctl_users_delete_with_hosts(ctl: CtlServer, services: Services) -> None:
    user_id, name, (host,) = await _user_with_hosts(services, 1)
    refused = await ctl_run(ctl, "users", "delete", name)
    assert refused.returncode == 1 and "STATE_016" in refused.stderr.decode()
    queued = await ctl_run(ctl, "users", "delete", name, "--with-hosts", "--wait", "0")
    out = queued.stdout.decode()
    assert queued.returncode == 0, queued.stderr.decode()
    assert "not deleted yet" in out and "pending" in out
    await _finish_deletion(services, host)
    done = await ctl_run(ctl, "users", "delete", name, "--with-hosts")
    assert done.returncode == 0 and f"{name}: deleted" in done.stdout.decode()
    assert await users_repo.get(services.db, user_id) is None
    # The deleted host outlives its owner; listing it names no one and fails nothing.
    listed = await ctl_run(ctl, "hosts", "list", "--status", "deleted")
    assert listed.returncode == 0, listed.stderr.decode()
    line = next(row for row in listed.stdout.decode().splitlines() if host.short_id in row)
    assert "(deleted)" in line


async def test_the_confirm_form_offers_to_delete_the_boxes(
    app: QuartTrio, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.pages.admin_users as pages

    monkeypatch.setattr(pages, "DELETE_WAIT_S", 0.0)  # no worker runs the tasks here
    await services.accounts.create(ACTOR, username="pageadmin", role="admin", password=PASSWORD)
    user_id, name, (host,) = await _user_with_hosts(services, 1)
    admin, csrf = await sign_in(app, "pageadmin")
    page = await (await admin.get(f"/admin/users/{user_id}")).get_data(as_text=True)
    assert 'name="with_hosts"' in page and "Also delete their 1 box " in page
    form = {"csrf_token": csrf, "confirm": name}
    refused = await admin.post(f"/admin/users/{user_id}/delete", form=form)
    assert refused.status_code == 409
    assert "with_hosts" in await refused.get_data(as_text=True)
    queued = await admin.post(f"/admin/users/{user_id}/delete", form={**form, "with_hosts": "1"})
    assert queued.status_code == 302  # POST-redirect-GET: a reload deletes nothing again
    assert queued.headers["Location"].endswith(f"/admin/users/{user_id}?done=deleting")
    shown = await admin.get(queued.headers["Location"])
    assert "Deleting their boxes" in await shown.get_data(as_text=True)
    await _finish_deletion(services, host)
    done = await admin.post(f"/admin/users/{user_id}/delete", form={**form, "with_hosts": "1"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        "/admin/users?done=deleted"
    )
    assert await users_repo.get(services.db, user_id) is None
    # A user without boxes is not offered the box deletion.
    other, _ = await services.accounts.create(ACTOR, username=random_name(), password=PASSWORD)
    page = await (await admin.get(f"/admin/users/{other.id}")).get_data(as_text=True)
    assert 'name="with_hosts"' not in page


async def test_with_hosts_runs_the_real_delete_tasks_then_deletes_the_user(stack: Stack) -> None:
    user_id, _ = await stack.user()
    status, host = await stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1, "memory_mb": 1024}
    )
    assert status == 201, host
    assert (await stack.wait_task(host["task_id"]))["status"] == "succeeded"
    assert (await stack.services.agent.inspect_host(host["id"])).exists
    status, body = await stack.call(
        "DELETE", f"/v1/admin/users/{user_id}?with_hosts=true&wait_s=120"
    )
    assert status == 204, body
    assert not (await stack.services.agent.inspect_host(host["id"])).exists
    row = await hosts_repo.get(stack.services.db, uuid.UUID(host["id"]))
    assert row is not None and row.status == "deleted" and str(row.user_id) == user_id
    status, _ = await stack.call("GET", f"/v1/admin/users/{user_id}")
    assert status == 404
    status, events = await stack.call(
        "GET", f"/v1/admin/events?type=admin.host.action&host_id={host['id']}"
    )
    assert sorted(e["metadata"]["action"] for e in events["items"]) == ["create", "delete"]
    status, events = await stack.call("GET", "/v1/admin/events?type=admin.user.deleted")
    assert [e["user_id"] for e in events["items"]] == [user_id]


async def test_a_host_busy_with_another_task_is_named_and_nothing_is_deleted(
    app: QuartTrio, admin: dict[str, Any], services: Services
) -> None:
    user, _ = await services.accounts.create(ACTOR, username=random_name())
    host, _, task = await services.hosts.create(
        ACTOR, user_id=user.id, limits=HostLimits(disk_gb=1)
    )
    client = app.test_client()
    url = f"/v1/admin/users/{user.id}?with_hosts=true"
    busy = await client.delete(url, headers=admin["headers"])
    assert busy.status_code == 409
    error = (await busy.get_json())["error"]
    assert error["slug"] == "host_busy" and str(task.id) in error["message"]
    assert (await services.accounts.get(user.id)).id == user.id
    shown = await hosts_repo.get(services.db, host.id)
    assert shown is not None and shown.status == "pending" and shown.desired_state != "deleted"
