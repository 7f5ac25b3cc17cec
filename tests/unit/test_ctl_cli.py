"""``cloudclaudectl`` as a user sees it: argv → the request on the wire, exit codes, output.

The parser, the requests and the printers are derived from the command registry; these pin
what they make, so a change to the derivation cannot change the command line unnoticed.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest

from cloudclaude.ctl import cli, messages
from cloudclaude.ctl.registry import REGISTRY, request_of


def _wire(argv: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        messages.encode_request(request_of(cli._parser().parse_args(argv)))
    )
    return body


@pytest.mark.parametrize(
    ("argv", "wire"),
    [
        ("status", {"op": "status"}),
        (
            "users add bob --role admin --expires 2030-01-01 --max-hosts 3",
            {
                "op": "users.add",
                "username": "bob",
                "role": "admin",
                "password": None,
                "expires_at": "2030-01-01",
                "max_hosts": 3,
            },
        ),
        ("users expire bob", {"op": "users.expire", "username": "bob", "expires_at": "now"}),
        ("users passwd bob", {"op": "users.passwd", "username": "bob", "password": None}),
        ("users sign-out bob", {"op": "users.sign-out", "username": "bob"}),
        ("audit tail -n 3 -f", {"op": "audit.tail", "limit": 3, "follow": True}),
        (
            "hosts list --user bob --status running --limit 3 --offset 1",
            {"op": "hosts.list", "username": "bob", "status": "running", "limit": 3, "offset": 1},
        ),
        (
            "hosts delete abcd --purge",
            {"op": "hosts.action", "host": "abcd", "action": "delete", "purge": True},
        ),
        (
            "hosts verify-egress abcd",
            {"op": "hosts.action", "host": "abcd", "action": "verify_egress", "purge": False},
        ),
        (
            "tasks list --status failed --host abcd --limit 2 --offset 9",
            {"op": "tasks.list", "status": "failed", "host": "abcd", "limit": 2, "offset": 9},
        ),
        ("exits bind h x", {"op": "exits.bind", "host": "h", "exit": "x"}),
        (
            "hosts roll --all --now --parallel 3",
            {
                "op": "hosts.roll",
                "hosts": [],
                "all": True,
                "username": None,
                "now": True,
                "parallel": 3,
            },
        ),
        (
            "hosts roll abcd efgh",
            {
                "op": "hosts.roll",
                "hosts": ["abcd", "efgh"],
                "all": False,
                "username": None,
                "now": False,
                "parallel": None,
            },
        ),
        (
            "hosts create bob --cpus 1.5 --memory-mb 1024 --disk-gb 5 --exit tokyo --start",
            {
                "op": "hosts.create",
                "username": "bob",
                "cpus": 1.5,
                "memory_mb": 1024,
                "disk_gb": 5,
                "exit": "tokyo",
                "start": True,
            },
        ),
        (
            "hosts create bob",
            {
                "op": "hosts.create",
                "username": "bob",
                "cpus": None,
                "memory_mb": None,
                "disk_gb": None,
                "exit": None,
                "start": False,
            },
        ),
        (
            "exits create tokyo --kind trojan --port 443 --resolver 1.1.1.1 --resolver 8.8.8.8"
            " --set tls=true --set sni=a.b --set alter_id=null",
            {
                "op": "exits.create",
                "fields": {
                    "label": "tokyo",
                    "kind": "trojan",
                    "port": 443,
                    "expected_resolvers": ["1.1.1.1", "8.8.8.8"],
                    "tls": True,
                    "sni": "a.b",
                    "alter_id": None,
                },
            },
        ),
        ("exits update x --label y", {"op": "exits.update", "exit": "x", "fields": {"label": "y"}}),
    ],
)
def test_argv_makes_the_request(argv: str, wire: dict[str, Any]) -> None:
    assert _wire(argv.split()) == wire


def test_password_stdin_reads_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-password\nmore\n"))
    assert _wire(["users", "add", "bob", "--password-stdin"])["password"] == "s3cret-password"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["users"],
        ["users", "add"],
        ["hosts", "start", "h", "--purge"],
        ["tasks", "list", "--status", "x"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == cli.EXIT_USAGE
    assert "usage: cloudclaudectl" in capsys.readouterr().err


def test_unparseable_exit_fields_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exits", "create", "x", "--set", "novalue"]) == cli.EXIT_USAGE
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_no_daemon_exits_3(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--socket", str(tmp_path / "none.sock"), "status"]) == cli.EXIT_UNREACHABLE
    assert "error SYSTEM_009 daemon_unreachable" in capsys.readouterr().err


def test_help_lists_the_commands_in_order() -> None:
    sub = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    listed = [choice.dest for choice in sub._choices_actions]
    assert listed == [
        "status",
        "users",
        "audit",
        "keys",
        "hosts",
        "tasks",
        "exits",
        "credentials",
        "usage",
        "backup",
        "reload",
    ]


TASK = {
    "id": "t1",
    "kind": "start",
    "status": "failed",
    "progress_percent": 40,
    "progress_message": "pulling",
    "error_code": "DISK_001",
    "error_message": "full",
    "created_at": "2030-01-01T00:00:00+00:00",
    "events": [{"seq": 1, "at": "2030-01-01T00:00:01+00:00", "code": "pull", "message": "pulling"}],
}
HOST = {
    "short_id": "abcd2345",
    "status": "running",
    "desired_state": "running",
    "cpus": 2,
    "memory_mb": 2048,
    "id": "h-1",
    "egress_label": "tokyo",
    "egress_verified": False,
    "owner": "bob",
}


@pytest.mark.parametrize(
    ("op", "data", "printed"),
    [
        (
            "status",
            {
                "version": "0.1",
                "pid": 7,
                "uptime_s": 12.4,
                "components": {"ctl": "running"},
                "database": {"status": "ok", "latency_ms": 1.5},
                "agent": {"status": "error", "mode": "socket", "detail": "down"},
            },
            "cloudclaude 0.1  pid 7  up 12s\n  ctl        running\n"
            "  database   ok (1.5 ms)\n  agent      error socket: down\n",
        ),
        (
            "users.list",
            {
                "items": [
                    {
                        "username": "bob",
                        "role": "user",
                        "status": "active",
                        "expires_at": None,
                        "max_hosts": 1,
                    }
                ],
                "total": 5,
            },
            "USERNAME                 ROLE   STATUS    EXPIRES                    MAX_HOSTS\n"
            "bob                      user   active    -                          1\n(1 of 5)\n",
        ),
        ("users.passwd", {"username": "bob", "password": None}, "bob: done\n"),
        (
            "hosts.list",
            {"items": [HOST, {**HOST, "egress_label": None, "image_outdated": True}], "total": 2},
            "SHORT_ID   OWNER                STATUS    DESIRED   CPUS  MEM_MB EXIT"
            "                     IMAGE    ID\n"
            "abcd2345   bob                  running   running      2    2048 tokyo (unverified)"
            "       current  h-1\n"
            "abcd2345   bob                  running   running      2    2048 -"
            "                        outdated h-1\n(2 of 2)\n",
        ),
        (
            "exits.test",
            {"exit": "tokyo", "action": "test", "task_id": "t8"},
            "tokyo: test queued as task t8\n  follow it with: cloudclaudectl tasks show t8\n",
        ),
        (
            "tasks.cancel",
            TASK,
            "task t1: start failed 40% pulling\nerror DISK_001: full\n"
            "    1 2030-01-01T00:00:01+00:00  pull                 pulling\n",
        ),
        (
            "audit.tail",
            {"items": [{"at": "2030", "type": "t.x", "actor": "ctl", "metadata": {"a": 1}}]},
            "2030  t.x                          ctl                    a=1\n",
        ),
        (
            "reload",
            {"applied": [], "needs_restart": ["c"]},
            "applied: nothing\nneed a restart: c\n",
        ),
        ("users.show", {"username": "bob", "ssh_keys": []}, "username: bob\nssh_keys: -\n"),
        (
            "users.show",
            {"username": "bob", "expires_at": None, "ssh_keys": ["SHA256:a", "SHA256:b"]},
            "username: bob\nexpires_at: -\nssh_keys: SHA256:a, SHA256:b\n",
        ),
        (
            "exits.list",
            {
                "items": [
                    {
                        "label": "tokyo",
                        "kind": "trojan",
                        "server": "198.18.0.2",
                        "port": 443,
                        "expected_ip": None,
                        "status": "failed",
                        "last_verified_at": "2030-01-01T02:03:04.5+00:00",
                        "egress_verified": True,
                        "bound_hosts": 2,
                        "id": "e-1",
                    },
                    {
                        "label": "host",
                        "kind": "direct",
                        "server": None,
                        "port": None,
                        "expected_ip": None,
                        "status": "unverified",
                        "last_verified_at": None,
                        "egress_verified": False,
                        "bound_hosts": 0,
                        "id": "e-2",
                    },
                ],
                "total": 2,
            },
            "LABEL                KIND        SERVER                 EXPECTED_IP     LAST_CHECK"
            "               AT_START HOSTS ID\n"
            "tokyo                trojan      198.18.0.2:443         -               failed"
            " 2030-01-01 02:03Z yes          2 e-1\n"
            "host                 direct      -                      -               never"
            "                    no           0 e-2\n(2 of 2)\n",
        ),
    ],
)
def test_human_output(
    op: str, data: dict[str, Any], printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    REGISTRY.commands[op].printer(data)
    assert capsys.readouterr().out == printed
