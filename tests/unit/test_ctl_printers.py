"""``cloudclaudectl``'s human output shows words, never Python reprs.

Every command's printer (and events printer) renders a reply built by the daemon's own views
from records full of empty values (no expiry, no exit, no error, no domains, no keys): none of
``None``, ``True``, ``False`` or a list's ``['…']`` may reach the terminal. A new command needs
a sample here (the first test checks that every op has one).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest

from cloudclaude.ctl import commands  # noqa: F401  (declares the commands)
from cloudclaude.ctl.registry import REGISTRY, text
from cloudclaude.model.audit import AuditEvent
from cloudclaude.model.exits import Binding, Exit, ExitRef
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task, TaskEvent
from cloudclaude.model.views import audit_view, binding_view, exit_view, host_view, task_view
from tests.fakes.ctl_credential_replies import CREDENTIAL_REPLIES
from tests.fakes.records import make_user

AT = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
USER = make_user(AT, username="bob")


def _host(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "short_id": "abcd2345",
        "user_id": USER.id,
        "status": "pending",
        "desired_state": "stopped",
        "image_ref": None,
        "cpus": 2,
        "memory_mb": 4096,
        "pids": 1024,
        "disk_gb": 20,
        "timezone": "UTC",
        "box_public_key": None,
        "error_code": None,
        "error_message": None,
        "last_activity_at": None,
        "last_used_at": None,
        "idle_stop_after_s": None,
        "created_at": AT,
        "updated_at": AT,
    }
    return {**host_view(Host(**{**fields, **changes})), "owner": "bob"}


HOSTS = [
    _host(),
    _host(egress=ExitRef(id=uuid.uuid4(), label="tokyo", kind="trojan", verified=True)),
    _host(egress=ExitRef(id=uuid.uuid4(), label="host", kind="direct", verified=False)),
]


def _exit(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "label": "host",
        "kind": "direct",
        "server": None,
        "port": None,
        "expected_ip": None,
        "dns_server": None,
        "configured_resolvers": None,
        "verify_url": None,
        "verify_dns_name": None,
        "created_at": AT,
        "updated_at": AT,
    }
    return exit_view(Exit(**{**fields, **changes}))


EXITS = [
    _exit(),
    _exit(
        label="tokyo",
        kind="trojan",
        server="198.18.0.2",
        port=443,
        expected_ip="198.18.0.2",
        verify_dns_name="whoami.test",
        options={"tls": True, "sni": None, "alpn": ["h2"]},
        masked={"password": "••••rd"},
        status="failed",
        last_verified_at=AT,
        detected_ip="198.18.0.9",
        bound_hosts=1,
    ),
]


def _task(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "host_id": None,
        "kind": "test_exit",
        "status": "pending",
        "params": {},
        "attempt": 0,
        "max_attempts": 3,
        "run_after": AT,
        "lease_owner": None,
        "lease_expires_at": None,
        "requested_by": None,
        "cancel_requested": False,
        "error_code": None,
        "error_message": None,
        "progress_percent": 0,
        "progress_message": "",
        "created_at": AT,
        "started_at": None,
        "finished_at": None,
        "updated_at": AT,
    }
    return task_view(Task(**{**fields, **changes}))


FAILED_TASK = _task(
    status="failed",
    error_code="STATE_006",
    error_message=None,
    events=[TaskEvent(seq=1, code="container.created", message="", at=AT)],
)
EVENT = audit_view(
    AuditEvent(
        id=1,
        type="admin.host.action",
        actor="ctl:uid=0",
        actor_user_id=None,
        user_id=None,
        host_id=None,
        source_ip=None,
        metadata={"action": "delete", "purge": True, "reason": None, "domains": ["a.test"]},
        at=AT,
    )
)
USER_VIEW = {
    "id": str(USER.id),
    "username": "bob",
    "role": "user",
    "status": "active",
    "expires_at": None,
    "max_hosts": 1,
    "last_login_at": None,
    "created_at": AT.isoformat(),
    "updated_at": AT.isoformat(),
}
BINDING = binding_view(
    Binding(
        id=uuid.uuid4(),
        host_id=uuid.uuid4(),
        host_short_id="abcd2345",
        egress_ip_id=uuid.uuid4(),
        egress_label="tokyo",
        created_at=AT,
    )
)
QUEUED = {"host": "abcd2345", "action": "start", "task_id": str(uuid.uuid4())}
CREATED = {
    **HOSTS[0],
    "ssh_password": "pw-abc",
    "task_id": str(uuid.uuid4()),
}
PROGRESS = {
    "task_id": CREATED["task_id"],
    "kind": "create",
    "status": "pending",
    "progress_percent": 0,
    "progress_message": "",
}

#: op → the replies its printer gets, then the events its events printer gets.
BACKUPS = [
    {
        "id": str(uuid.uuid4()),
        "trigger": "manual",
        "actor": "ctl:root",
        "status": "succeeded",
        "started_at": "2026-11-28T03:00:00+00:00",
        "finished_at": "2026-11-28T03:01:00+00:00",
        "size_bytes": 123456789,
        "homes": 2,
        "skipped": 0,
        "error_code": None,
        "error_message": None,
    },
    {
        "id": str(uuid.uuid4()),
        "trigger": "schedule",
        "actor": "system",
        "status": "failed",
        "started_at": "2026-11-27T03:00:00+00:00",
        "finished_at": None,
        "size_bytes": 0,
        "homes": 0,
        "skipped": 0,
        "error_code": "DISK_006",
        "error_message": "restic backup of database.pgdump failed: no space left",
    },
]

REPLIES: dict[str, tuple[list[Any], list[Any]]] = {
    "status": (
        [
            {
                "version": "0.1",
                "pid": 7,
                "uptime_s": 1.0,
                "components": {"ctl": "running", "web": "starting"},
                "database": {"status": "error", "detail": "timed out", "latency_ms": None},
                "agent": {"mode": "none", "status": "not_configured", "detail": None},
            },
            {
                "version": "0.1",
                "pid": 7,
                "uptime_s": 1.0,
                "components": {},
                "database": {"status": "ok", "detail": "ok", "latency_ms": 0.5},
                "agent": {"mode": "embedded", "status": "ok", "version": None, "latency_ms": 1},
            },
        ],
        [],
    ),
    "reload": (
        [{"applied": [], "needs_restart": []}, {"applied": ["a"], "needs_restart": ["b"]}],
        [],
    ),
    "keys.rotate": ([{"kid": "k2", "usable": ["k1", "k2"]}], []),
    "audit.tail": ([{"items": [EVENT]}, {"items": []}, {"stopped": "daemon is stopping"}], [EVENT]),
    "users.list": ([{"items": [USER_VIEW], "total": 1}], []),
    "users.add": ([{**USER_VIEW, "password": None}, {**USER_VIEW, "password": "pw-x"}], []),
    "users.show": (
        [{**USER_VIEW, "ssh_keys": []}, {**USER_VIEW, "ssh_keys": ["SHA256:a", "SHA256:b"]}],
        [],
    ),
    "users.disable": ([{**USER_VIEW, "status": "disabled"}], []),
    "users.enable": ([USER_VIEW], []),
    "users.expire": ([USER_VIEW], []),
    "users.passwd": ([{"username": "bob", "password": None}], []),
    "users.delete": (
        [
            {"username": "bob", "deleted": True, "tasks": []},
            {
                "username": "bob",
                "deleted": False,
                "tasks": [
                    {"id": "t1", "status": "running", "error_code": None},
                    {"id": "t2", "status": "failed", "error_code": "STATE_004"},
                ],
            },
        ],
        [],
    ),
    "users.sign-out": ([{"signed_out": "bob"}], []),
    "hosts.list": ([{"items": HOSTS, "total": 3}], []),
    "hosts.show": ([{**h, "active_task": None} for h in HOSTS], []),
    "hosts.create": (
        [
            CREATED,
            {
                **HOSTS[1],
                **{k: CREATED[k] for k in ("ssh_password", "task_id")},
            },
        ],
        [PROGRESS, {**PROGRESS, "status": "succeeded", "progress_percent": 100}],
    ),
    "hosts.action": ([QUEUED], []),
    "users.exits": (
        [
            {"username": "bob", "exits": []},
            {"username": "bob", "exits": [{"id": "x", "label": "tokyo", "kind": "socks5"}]},
        ],
        [],
    ),
    "hosts.rotate-ssh-password": ([{"host": "abcd2345", "ssh_password": "pw-123"}], []),
    "hosts.roll": (
        [
            {
                "image": "cloudclaude-box:ab12",
                "rebuilt": [],
                "failed": [],
                "deferred": [],
                "skipped": [],
            },
            {
                "image": "cloudclaude-box:ab12",
                "rebuilt": ["abcd"],
                "failed": ["efgh"],
                "deferred": ["ijkl"],
                "skipped": ["mnop"],
            },
        ],
        [
            {"event": "plan", "image": "cloudclaude-box:ab12", "hosts": 2},
            {"event": "host", "host": "abcd", "what": "rebuilding", "detail": "task t1"},
            {"event": "host", "host": "abcd", "what": "40%", "detail": ""},
        ],
    ),
    "tasks.list": ([{"items": [_task(), FAILED_TASK], "total": 2}], []),
    "tasks.show": ([_task(), FAILED_TASK], []),
    "tasks.cancel": ([FAILED_TASK], []),
    "exits.list": ([{"items": EXITS, "total": 2}], []),
    "exits.show": ([{**e, "hosts": []} for e in EXITS] + [{**EXITS[1], "hosts": ["abcd"]}], []),
    "exits.create": (EXITS, []),
    "exits.update": (EXITS, []),
    "exits.delete": ([{"deleted": "tokyo"}], []),
    "exits.test": ([{"exit": "tokyo", "action": "test", "task_id": "t"}], []),
    "exits.bind": ([BINDING], []),
    "exits.unbind": ([BINDING], []),
    "backup.create": (
        [BACKUPS[0]],
        [{"step": "database: pg_dump"}, {"step": "home 1/2: host abcd2345"}],
    ),
    "backup.list": ([{"items": BACKUPS}, {"items": []}], []),
    **CREDENTIAL_REPLIES,
}

#: What a Python repr looks like: None/True/False as words, a list or dict literal.
REPR = re.compile(r"\b(None|True|False)\b|\['|\[\]|\{'|\{\}")


def test_every_command_has_sample_replies() -> None:
    assert set(REPLIES) == set(REGISTRY.commands)


@pytest.mark.parametrize("op", sorted(REGISTRY.commands))
def test_human_output_has_no_python_reprs(op: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = REGISTRY.commands[op]
    replies, events = REPLIES[op]
    for data in replies:
        command.printer(data)
    for event in events:
        command.events(event)
    out = capsys.readouterr().out
    assert out.strip(), op
    assert not REPR.search(out), f"{op}:\n{out}"


def test_exits_list_shows_the_last_check_not_a_contradiction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    REGISTRY.commands["exits.list"].printer({"items": EXITS, "total": 2})
    lines = capsys.readouterr().out.splitlines()
    assert "LAST_CHECK" in lines[0] and "VERIFIED" not in lines[0]
    tokyo = next(line for line in lines if line.startswith("tokyo"))
    assert "failed 2030-01-02 03:04Z" in tokyo and " yes " in tokyo  # failed; checked at start
    host = next(line for line in lines if line.startswith("host"))
    assert " never " in host and " no " in host


def test_exits_show_names_the_last_check(capsys: pytest.CaptureFixture[str]) -> None:
    REGISTRY.commands["exits.show"].printer({**EXITS[1], "hosts": ["abcd2345"]})
    out = capsys.readouterr().out
    assert "last_check: failed 2030-01-02 03:04Z (seen 198.18.0.9)\n" in out
    assert "checked_at_start: yes\n" in out and "egress_verified" not in out
    assert "hosts: abcd2345\n" in out and "alpn: h2\n" in out and "sni: -\n" in out


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (True, "yes"),
        (False, "no"),
        ([], "-"),
        (["a", "b"], "a, b"),
        ({"a": None, "b": [1]}, "a=- b=1"),
        ({}, "-"),
        (0, "0"),
        ("", ""),
    ],
)
def test_text(value: Any, shown: str) -> None:
    assert text(value) == shown
