"""The control socket for real: a Unix socket, peer credentials, frames, every command."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.ctl import messages as m
from cloudclaude.ctl.client import CtlClient
from cloudclaude.ctl.commands.daemon import AuditTail, KeysRotate, Reload, Status
from cloudclaude.ctl.commands.exits import (
    ExitsBind,
    ExitsCreate,
    ExitsDelete,
    ExitsList,
    ExitsShow,
    ExitsTest,
    ExitsUnbind,
    ExitsUpdate,
)
from cloudclaude.ctl.commands.hosts import HostsAction, HostsList, HostsShow
from cloudclaude.ctl.commands.tasks import TasksCancel, TasksList, TasksShow
from cloudclaude.ctl.commands.users import (
    UsersAdd,
    UsersDelete,
    UsersDisable,
    UsersEnable,
    UsersExpire,
    UsersList,
    UsersPasswd,
    UsersShow,
)
from cloudclaude.ctl.server import CtlServer
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits
from tests.integration.ctlserver import ctl_run
from tests.integration.processes import BIN, frame_exchange_as


async def _call(server: CtlServer, request: m.Request) -> m.Reply:
    return await CtlClient(str(server.path)).call(request)


async def _raw(server: CtlServer, payload: bytes) -> dict[str, object]:
    stream = await trio.open_unix_socket(str(server.path))
    async with stream:
        await stream.send_all(payload)
        await stream.send_eof()
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    (length,) = struct.unpack(">I", data[:4])
    reply: dict[str, object] = json.loads(data[4 : 4 + length])
    return reply


async def test_status_reports_components_database_and_agent(ctl: CtlServer) -> None:
    reply = await _call(ctl, Status())
    assert reply.kind == "ok"
    assert reply.data["components"]["ctl"] == "running"
    assert reply.data["database"]["status"] == "ok"
    assert reply.data["agent"]["status"] == "ok"
    assert reply.data["agent"]["mode"] == "embedded"
    assert reply.data["version"]


async def test_users_commands(ctl: CtlServer, services: Services) -> None:
    added = await _call(ctl, UsersAdd(username="gina", role="admin"))
    assert added.kind == "ok"
    password = added.data["password"]
    assert (await services.accounts.login("gina", password, None)).user.role == "admin"
    listed = await _call(ctl, UsersList(search="gin"))
    assert [u["username"] for u in listed.data["items"]] == ["gina"]
    await _call(ctl, UsersAdd(username="hank", password="hank-password-1"))
    assert (await _call(ctl, UsersDisable(username="hank"))).data["status"] == "disabled"
    assert (await _call(ctl, UsersEnable(username="hank"))).data["status"] == "active"
    expired = await _call(ctl, UsersExpire(username="hank"))
    assert expired.data["status"] == "expired"
    never = await _call(ctl, UsersExpire(username="hank", expires_at="never"))
    assert never.data["status"] == "active"
    assert never.data["expires_at"] is None
    new = await _call(ctl, UsersPasswd(username="hank"))
    assert (await services.accounts.login("hank", new.data["password"], None)).token
    shown = await _call(ctl, UsersShow(username="hank"))
    assert shown.data["ssh_keys"] == []
    assert (await _call(ctl, UsersDelete(username="hank"))).kind == "ok"
    missing = await _call(ctl, UsersShow(username="hank"))
    assert missing.kind == "error"
    assert missing.error is not None
    assert missing.error["slug"] == "not_found"


async def test_duplicate_user_is_an_error_reply(ctl: CtlServer) -> None:
    await _call(ctl, UsersAdd(username="ivy"))
    reply = await _call(ctl, UsersAdd(username="ivy"))
    assert reply.kind == "error"
    assert reply.error is not None
    assert reply.error["code"] == "STATE_002"


async def test_keys_rotate_keeps_old_tokens_valid(ctl: CtlServer, services: Services) -> None:
    await _call(ctl, UsersAdd(username="jack", password="jack-password"))
    old = (await services.accounts.login("jack", "jack-password", None)).token
    old_kid = services.tokens.ring.current_kid
    reply = await _call(ctl, KeysRotate())
    assert reply.data["kid"] != old_kid
    assert old_kid in reply.data["usable"]
    assert (await services.accounts.authenticate(old)).username == "jack"
    new = (await services.accounts.login("jack", "jack-password", None)).token
    assert (await services.tokens.verify(new)).kid == reply.data["kid"]


async def test_audit_tail_and_follow(ctl: CtlServer) -> None:
    await _call(ctl, UsersAdd(username="kate"))
    tail = await _call(ctl, AuditTail(limit=5))
    assert [e["type"] for e in tail.data["items"]] == ["admin.user.created"]
    seen: list[str] = []
    with trio.move_on_after(10):
        async for reply in CtlClient(str(ctl.path)).stream(AuditTail(limit=1, follow=True)):
            seen.append(reply.data["type"])
            if len(seen) == 1:
                await _call(ctl, UsersAdd(username="liam"))
            if len(seen) == 2:
                break
    assert seen == ["admin.user.created", "admin.user.created"]


async def test_reload_reports_changes(ctl: CtlServer, services: Services) -> None:
    reply = await _call(ctl, Reload())
    assert reply.kind == "ok"
    assert reply.data == {"applied": [], "needs_restart": []}


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (_frame(b"notjs"), "not JSON"),
        (_frame(b"{}"), "'op'"),
        (_frame(b'{"op": "rm-rf"}'), "unknown or malformed"),
        (_frame(b'{"op": "status", "extra": 1}'), "unknown or malformed"),
        (_frame(b'{"op": "users.list", "limit": "ten"}'), "unknown or malformed"),
        (struct.pack(">I", 1 << 30), "exceeds the limit"),
        (struct.pack(">I", 100) + b"{", "ended after"),
        (b"\x00\x00", "inside a frame header"),
    ],
)
async def test_garbage_frames_get_protocol_errors_and_server_stays_up(
    ctl: CtlServer, payload: bytes, fragment: str
) -> None:
    reply = await _raw(ctl, payload)
    error = reply["error"]
    assert isinstance(error, dict)
    assert error["slug"] == "protocol_error"
    assert fragment in str(error["message"])
    assert (await _call(ctl, Status())).kind == "ok"


async def test_peer_credentials_refuse_a_non_allowed_uid(ctl: CtlServer) -> None:
    """A child that drops to nobody can connect (mode 0777) but is refused by SO_PEERCRED."""
    Path(ctl.path).chmod(0o777)
    reply = await frame_exchange_as("nobody", ctl.path, {"op": "users.list"})
    assert reply["kind"] == "error"
    assert reply["error"]["slug"] == "peer_not_allowed"
    assert "65534" in reply["error"]["message"]
    as_root = await frame_exchange_as(None, ctl.path, {"op": "users.list"})
    assert as_root["kind"] == "ok"


async def test_hosts_and_tasks_commands(ctl: CtlServer, services: Services) -> None:
    user, _ = await services.accounts.create(Actor(name="test"), username="hostowner")
    host, _, create_task = await services.hosts.create(
        Actor(name="test"), user_id=user.id, limits=HostLimits(disk_gb=1)
    )
    listed = await _call(ctl, HostsList(username="hostowner"))
    assert listed.kind == "ok" and [h["short_id"] for h in listed.data["items"]] == [host.short_id]
    shown = await _call(ctl, HostsShow(host=host.short_id))
    assert shown.data["id"] == str(host.id) and shown.data["active_task"] == str(create_task.id)

    busy = await _call(ctl, HostsAction(host=host.short_id, action="start"))
    assert busy.kind == "error" and busy.error and busy.error["slug"] == "host_busy"
    canceled = await _call(ctl, TasksCancel(task=str(create_task.id)))
    assert canceled.data["status"] == "canceled"
    started = await _call(ctl, HostsAction(host=str(host.id), action="start"))
    assert started.kind == "ok"
    task = await _call(ctl, TasksShow(task=started.data["task_id"]))
    assert task.data["kind"] == "start" and task.data["status"] == "pending"
    tasks = await _call(ctl, TasksList(host=host.short_id))
    assert [t["kind"] for t in tasks.data["items"]] == ["start", "create"]

    cases: list[tuple[m.Request, str]] = [
        (HostsShow(host="nope"), "host_not_found"),
        (HostsList(status="sleeping"), "validation_failed"),
        (TasksShow(task="not-a-task"), "not_found"),
        (TasksCancel(task=str(create_task.id)), "conflict"),
    ]
    for request, slug in cases:
        reply = await _call(ctl, request)
        assert reply.kind == "error" and reply.error and reply.error["slug"] == slug, request

    result = await trio.run_process(
        [str(BIN / "cloudclaudectl"), "--socket", str(ctl.path), "hosts", "list"],
        capture_stdout=True,
    )
    assert host.short_id in result.stdout.decode()
    shown_cli = await trio.run_process(
        [
            str(BIN / "cloudclaudectl"),
            "--socket",
            str(ctl.path),
            "tasks",
            "show",
            str(create_task.id),
        ],
        capture_stdout=True,
    )
    assert "canceled" in shown_cli.stdout.decode()


async def test_human_status_shows_every_component_and_the_agent(ctl: CtlServer) -> None:
    result = await trio.run_process(
        [str(BIN / "cloudclaudectl"), "--socket", str(ctl.path), "status"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "ctl        running" in text
    assert "agent      ok embedded, version" in text


async def test_exits_commands(ctl: CtlServer, services: Services) -> None:
    created = await _call(
        ctl,
        ExitsCreate(
            fields={
                "label": "tokyo",
                "kind": "trojan",
                "server": "198.18.0.2",
                "port": 443,
                "password": "trojan-password",
                "expected_ip": "198.18.0.2",
                "dns_server": "198.18.0.53",
                "verify_dns_name": "whoami.test",
            }
        ),
    )
    assert created.kind == "ok", created.error
    assert created.data["password"] == "••••rd" and "trojan-password" not in str(created.data)
    listed = await _call(ctl, ExitsList())
    assert [e["label"] for e in listed.data["items"]] == ["tokyo"]
    updated = await _call(ctl, ExitsUpdate(exit="tokyo", fields={"port": 8443}))
    assert updated.data["port"] == 8443 and updated.data["password"] == "••••rd"
    assert updated.data["verify_dns_name"] == "whoami.test"
    tested = await _call(ctl, ExitsTest(exit="tokyo"))
    assert tested.kind == "ok" and tested.data["exit"] == "tokyo", tested.error
    queued = await services.hosts.tasks.get(tested.data["task_id"])
    assert queued.kind == "test_exit" and queued.params == {"exit_id": created.data["id"]}

    user, _ = await services.accounts.create(Actor(name="test"), username="exituser")
    host, _, _ = await services.hosts.create(
        Actor(name="test"), user_id=user.id, limits=HostLimits(disk_gb=1)
    )
    bound = await _call(ctl, ExitsBind(host=host.short_id, exit="tokyo"))
    assert bound.data["host_short_id"] == host.short_id and bound.data["egress_label"] == "tokyo"
    shown = await _call(ctl, ExitsShow(exit=created.data["id"]))
    assert shown.data["hosts"] == [host.short_id] and shown.data["bound_hosts"] == 1
    host_shown = await _call(ctl, HostsShow(host=host.short_id))
    assert host_shown.data["egress_label"] == "tokyo" and host_shown.data["egress_verified"]
    found = await services.exits.exit_for_host(host.id)
    assert found is not None and found[1].password == "trojan-password" and found[1].port == 8443

    cases: list[tuple[m.Request, str]] = [
        (ExitsCreate(fields={"label": "x", "kind": "direct", "port": 1}), "exit_invalid"),
        (ExitsShow(exit="nowhere"), "exit_not_found"),
        (ExitsBind(host=host.short_id, exit="tokyo"), "binding_exists"),
        (ExitsBind(host="nope", exit="tokyo"), "host_not_found"),
        (ExitsDelete(exit="tokyo"), "exit_in_use"),
    ]
    for request, slug in cases:
        reply = await _call(ctl, request)
        assert reply.kind == "error" and reply.error and reply.error["slug"] == slug, request

    unbound = await _call(ctl, ExitsUnbind(host=str(host.id)))
    assert unbound.kind == "ok" and unbound.data["egress_label"] == "tokyo"
    again = await _call(ctl, ExitsUnbind(host=host.short_id))
    assert again.error and again.error["slug"] == "not_found"
    assert (await _call(ctl, ExitsDelete(exit="tokyo"))).data == {"deleted": "tokyo"}


async def test_exits_cli_reads_fields_from_options_files_and_stdin(
    ctl: CtlServer, services: Services
) -> None:
    body = {
        "kind": "shadowsocks",
        "server": "198.18.0.3",
        "port": 8388,
        "method": "aes-256-gcm",
        "password": "ss-password-99",
        "expected_ip": "198.18.0.3",
        "dns_server": "198.18.0.53",
        "verify_url": "http://198.18.0.80/",
    }
    made = await ctl_run(
        ctl, "exits", "create", "osaka", "--file", "-", "--json", stdin=json.dumps(body).encode()
    )
    assert made.returncode == 0, made.stderr.decode()
    assert json.loads(made.stdout)["password"] == "••••99"
    direct = await ctl_run(
        ctl, "exits", "create", "host", "--kind", "direct", "--dns-server", "198.18.0.53"
    )
    assert direct.returncode == 0, direct.stderr.decode()
    changes = ["--port", "9388", "--set", "verify_url=null", "--set", "verify_dns_name=whoami.test"]
    changed = await ctl_run(
        ctl,
        "exits",
        "update",
        "osaka",
        *changes,
        "--password-stdin",
        "--json",
        stdin=b"new-ss-password-77\n",
    )
    assert changed.returncode == 0, changed.stderr.decode()
    data = json.loads(changed.stdout)
    assert data["port"] == 9388 and data["verify_url"] is None and data["password"] == "••••77"

    user, _ = await services.accounts.create(Actor(name="test"), username="cliexit")
    host, _, _ = await services.hosts.create(
        Actor(name="test"), user_id=user.id, limits=HostLimits(disk_gb=1)
    )
    bound = await ctl_run(ctl, "exits", "bind", host.short_id, "host")
    assert bound.returncode == 0 and "exit host" in bound.stdout.decode()
    hosts = await ctl_run(ctl, "hosts", "list")
    line = next(ln for ln in hosts.stdout.decode().splitlines() if host.short_id in ln)
    assert "host (unverified)" in line
    listed = await ctl_run(ctl, "exits", "list")
    text = listed.stdout.decode()
    assert "osaka" in text and "198.18.0.3:9388" in text and "ss-password" not in text

    refused = await ctl_run(ctl, "exits", "create", "bad", "--kind", "socks5", "--port", "1")
    assert refused.returncode == 1 and "NET_008" in refused.stderr.decode()
    usage = await ctl_run(ctl, "exits", "create", "x", "--set", "novalue")
    assert usage.returncode == 2 and "KEY=VALUE" in usage.stderr.decode()
    busy = await ctl_run(ctl, "exits", "delete", "host")
    assert busy.returncode == 1 and "NET_010" in busy.stderr.decode()
    found = await services.exits.exit_for_host(host.id)
    assert found is not None and found[1].kind == "direct"
    osaka = await services.exits.resolve("osaka")
    assert osaka.port == 9388
