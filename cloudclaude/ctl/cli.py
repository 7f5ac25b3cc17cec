"""``cloudclaudectl``: operate a running daemon over its control socket.

Exit codes: 0 success, 1 the daemon refused or failed the request (the error code is printed),
2 bad command-line arguments, 3 the daemon cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import trio

from cloudclaude import __version__
from cloudclaude.ctl import exit_args
from cloudclaude.ctl import messages as m
from cloudclaude.ctl.client import CtlClient, CtlUnreachable

DEFAULT_SOCKET = "/run/cloudclaude/ctl.sock"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON"
    )
    common.add_argument(
        "--socket",
        default=argparse.SUPPRESS,
        help=f"control socket (default $CLOUDCLAUDE_CTL__SOCKET or {DEFAULT_SOCKET})",
    )

    parser = argparse.ArgumentParser(
        prog="cloudclaudectl",
        parents=[common],
        description="Operate a running cloudclaude daemon over its local control socket.",
        epilog="Exit codes: 0 ok, 1 request failed, 2 usage error, 3 daemon unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"cloudclaudectl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("status", parents=[common], help="components, database, agent, version, uptime")

    users = sub.add_parser("users", parents=[common], help="manage user accounts")
    us = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = us.add_parser("list", parents=[common], help="list users")
    p.add_argument("--search", help="substring of the username")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p = us.add_parser("add", parents=[common], help="create a user (prints a generated password)")
    p.add_argument("name")
    p.add_argument("--role", choices=["admin", "user"], default="user")
    p.add_argument("--expires", metavar="DATE", help="ISO date or date-time (UTC if no zone)")
    p.add_argument("--max-hosts", type=int, default=1)
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of generating one",
    )
    for action, text in (
        ("show", "show a user"),
        ("disable", "disable a user"),
        ("enable", "enable a user"),
        ("delete", "delete a user"),
    ):
        us.add_parser(action, parents=[common], help=text).add_argument("name")
    p = us.add_parser("expire", parents=[common], help="set or clear a user's expiry")
    p.add_argument("name")
    p.add_argument(
        "--at",
        default="now",
        metavar="DATE|now|never",
        help="when the account expires (default: now)",
    )
    p = us.add_parser("passwd", parents=[common], help="set or generate a user's password")
    p.add_argument("name")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of generating one",
    )

    audit = sub.add_parser("audit", parents=[common], help="read the audit log")
    au = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = au.add_parser("tail", parents=[common], help="the latest audit events")
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")

    keys = sub.add_parser("keys", parents=[common], help="token signing keys")
    ks = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    ks.add_parser(
        "rotate",
        parents=[common],
        help="make a new signing key; tokens of older keys stay valid until they expire",
    )

    hosts = sub.add_parser("hosts", parents=[common], help="users' boxes")
    hs = hosts.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = hs.add_parser("list", parents=[common], help="list hosts")
    p.add_argument("--user", help="only this user's hosts")
    p.add_argument("--status", help="only hosts in this status")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    hs.add_parser("show", parents=[common], help="show a host").add_argument(
        "host", help="host id or short id"
    )
    for action, text in (
        ("start", "queue a start"),
        ("stop", "queue a stop"),
        ("rebuild", "queue a rebuild (new container, home volume kept)"),
        ("delete", "queue a delete"),
        ("verify-egress", "queue a new verification of a running host's exit"),
    ):
        p = hs.add_parser(action, parents=[common], help=text)
        p.add_argument("host", help="host id or short id")
        if action == "delete":
            p.add_argument("--purge", action="store_true", help="also delete the home volume")

    tasks = sub.add_parser("tasks", parents=[common], help="the durable task queue")
    ts = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ts.add_parser("list", parents=[common], help="list tasks, newest first")
    p.add_argument("--status", choices=["pending", "running", "succeeded", "failed", "canceled"])
    p.add_argument("--host", help="host id or short id")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    ts.add_parser("show", parents=[common], help="a task with its stage events").add_argument(
        "task"
    )
    ts.add_parser("cancel", parents=[common], help="cancel a pending or running task").add_argument(
        "task"
    )

    exit_args.add_parser(sub, common)
    sub.add_parser("reload", parents=[common], help="re-read the settings (like SIGHUP)")
    return parser


def _read_password() -> str:
    text = sys.stdin.readline()
    return text.rstrip("\r\n")


def _request(args: argparse.Namespace) -> m.Request:
    match args.command, getattr(args, "action", None):
        case "status", _:
            return m.Status()
        case "users", "list":
            return m.UsersList(search=args.search, limit=args.limit, offset=args.offset)
        case "users", "add":
            return m.UsersAdd(
                username=args.name,
                role=args.role,
                expires_at=args.expires,
                max_hosts=args.max_hosts,
                password=_read_password() if args.password_stdin else None,
            )
        case "users", "show":
            return m.UsersShow(username=args.name)
        case "users", "disable":
            return m.UsersDisable(username=args.name)
        case "users", "enable":
            return m.UsersEnable(username=args.name)
        case "users", "delete":
            return m.UsersDelete(username=args.name)
        case "users", "expire":
            return m.UsersExpire(username=args.name, expires_at=args.at)
        case "users", "passwd":
            return m.UsersPasswd(
                username=args.name, password=_read_password() if args.password_stdin else None
            )
        case "audit", "tail":
            return m.AuditTail(limit=args.limit, follow=args.follow)
        case "keys", "rotate":
            return m.KeysRotate()
        case "reload", _:
            return m.Reload()
        case "hosts", "list":
            return m.HostsList(
                username=args.user, status=args.status, limit=args.limit, offset=args.offset
            )
        case "hosts", "show":
            return m.HostsShow(host=args.host)
        case "hosts", ("start" | "stop" | "rebuild" | "delete") as action:
            return m.HostsAction(host=args.host, action=action, purge=getattr(args, "purge", False))
        case "hosts", "verify-egress":
            return m.HostsAction(host=args.host, action="verify_egress")
        case "tasks", "list":
            return m.TasksList(
                status=args.status, host=args.host, limit=args.limit, offset=args.offset
            )
        case "tasks", "show":
            return m.TasksShow(task=args.task)
        case "tasks", "cancel":
            return m.TasksCancel(task=args.task)
        case "exits", "list":
            return m.ExitsList(limit=args.limit, offset=args.offset)
        case "exits", "show":
            return m.ExitsShow(exit=args.exit)
        case "exits", "create":
            return m.ExitsCreate(fields=exit_args.fields(args))
        case "exits", "update":
            return m.ExitsUpdate(exit=args.exit, fields=exit_args.fields(args))
        case "exits", "delete":
            return m.ExitsDelete(exit=args.exit)
        case "exits", "bind":
            return m.ExitsBind(host=args.host, exit=args.exit)
        case "exits", "test":
            return m.ExitsTest(exit=args.exit)
        case "exits", "unbind":
            return m.ExitsUnbind(host=args.host)
    raise SystemExit(EXIT_USAGE)  # argparse makes this unreachable


def _print_human(request: m.Request, data: Any) -> None:
    match request:
        case m.Status():
            print(f"cloudclaude {data['version']}  pid {data['pid']}  up {data['uptime_s']:.0f}s")
            for name, state in data["components"].items():
                print(f"  {name:<10} {state}")
            db = data["database"]
            print(f"  {'database':<10} {db['status']} ({db['latency_ms']} ms)")
            agent = data["agent"]
            if agent["status"] == "ok":
                about = f"{agent['mode']}, version {agent['version']} ({agent['latency_ms']} ms)"
            else:
                about = f"{agent['mode']}: {agent.get('detail', '')}"
            print(f"  {'agent':<10} {agent['status']} {about}")
        case m.UsersList():
            print(f"{'USERNAME':<24} {'ROLE':<6} {'STATUS':<9} {'EXPIRES':<26} MAX_HOSTS")
            for u in data["items"]:
                print(
                    f"{u['username']:<24} {u['role']:<6} {u['status']:<9}"
                    f" {u['expires_at'] or '-':<26} {u['max_hosts']}"
                )
            print(f"({len(data['items'])} of {data['total']})")
        case m.UsersAdd() | m.UsersPasswd():
            name = data.get("username")
            if data.get("password"):
                print(f"{name}: password {data['password']}")
                print("(shown once; it is stored only as a hash)")
            else:
                print(f"{name}: done")
        case m.AuditTail():
            for event in data.get("items", []):
                _print_event(event)
        case m.KeysRotate():
            print(f"new signing key {data['kid']}; usable keys: {', '.join(data['usable'])}")
        case m.HostsList():
            print(
                f"{'SHORT_ID':<10} {'STATUS':<9} {'DESIRED':<8} {'CPUS':>5} {'MEM_MB':>7}"
                f" {'EXIT':<24} ID"
            )
            for h in data["items"]:
                print(
                    f"{h['short_id']:<10} {h['status']:<9} {h['desired_state']:<8}"
                    f" {h['cpus']:>5} {h['memory_mb']:>7} {_exit_name(h):<24} {h['id']}"
                )
            print(f"({len(data['items'])} of {data['total']})")
        case m.ExitsList():
            print(
                f"{'LABEL':<20} {'KIND':<11} {'SERVER':<22} {'EXPECTED_IP':<15} {'VERIFIED':<8}"
                f" {'HOSTS':>5} {'STATUS':<10} ID"
            )
            for e in data["items"]:
                server = f"{e['server']}:{e['port']}" if e["server"] else "-"
                print(
                    f"{e['label']:<20} {e['kind']:<11} {server:<22} {e['expected_ip'] or '-':<15}"
                    f" {'yes' if e['egress_verified'] else 'no':<8} {e['bound_hosts']:>5}"
                    f" {e['status']:<10} {e['id']}"
                )
            print(f"({len(data['items'])} of {data['total']})")
        case m.ExitsBind():
            print(f"{data['host_short_id']}: exit {data['egress_label']} (binding {data['id']})")
        case m.ExitsUnbind():
            print(f"{data['host_short_id']}: exit {data['egress_label']} removed")
        case m.HostsAction() | m.ExitsTest():
            name = data.get("host") or data.get("exit")
            print(f"{name}: {data['action']} queued as task {data['task_id']}")
            print(f"  follow it with: cloudclaudectl tasks show {data['task_id']}")
        case m.TasksList():
            print(f"{'KIND':<8} {'STATUS':<10} {'PROGRESS':>8} {'CREATED':<33} ID")
            for t in data["items"]:
                print(
                    f"{t['kind']:<8} {t['status']:<10} {t['progress_percent']:>7}%"
                    f" {t['created_at']:<33} {t['id']}"
                )
            print(f"({len(data['items'])} of {data['total']})")
        case m.TasksShow() | m.TasksCancel():
            print(
                f"task {data['id']}: {data['kind']} {data['status']}"
                f" {data['progress_percent']}% {data['progress_message']}"
            )
            if data["error_code"]:
                print(f"error {data['error_code']}: {data['error_message']}")
            for event in data.get("events", []):
                print(f"  {event['seq']:>3} {event['at']}  {event['code']:<20} {event['message']}")
        case m.Reload():
            print("applied: " + (", ".join(data["applied"]) or "nothing"))
            if data["needs_restart"]:
                print("need a restart: " + ", ".join(data["needs_restart"]))
        case _:
            for key, value in data.items():
                print(f"{key}: {value}")


def _exit_name(host: dict[str, Any]) -> str:
    """The host's exit label, marked when its egress is not verified."""
    label = host.get("egress_label")
    if not label:
        return "-"
    return label if host.get("egress_verified") else f"{label} (unverified)"


def _print_event(event: dict[str, Any]) -> None:
    meta = " ".join(f"{k}={v}" for k, v in event["metadata"].items())
    print(f"{event['at']}  {event['type']:<28} {event['actor']:<22} {meta}", flush=True)


async def _run(args: argparse.Namespace, request: m.Request) -> int:
    client = CtlClient(
        getattr(args, "socket", None) or os.environ.get("CLOUDCLAUDE_CTL__SOCKET", DEFAULT_SOCKET)
    )
    as_json = getattr(args, "json", False)
    async for reply in client.stream(request):
        if reply.kind == "error":
            error = reply.error or {}
            if as_json:
                print(json.dumps({"error": error}))
            else:
                print(
                    f"error {error.get('code')} {error.get('slug')}: {error.get('message')}",
                    file=sys.stderr,
                )
                if error.get("fix"):
                    print(f"fix: {error['fix']}", file=sys.stderr)
            return EXIT_FAILED
        if reply.kind == "event":
            print(json.dumps(reply.data), flush=True) if as_json else _print_event(reply.data)
            continue
        if as_json:
            print(json.dumps(reply.data, indent=2))
        else:
            _print_human(request, reply.data)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        request = _request(args)
    except exit_args.UsageError as exc:
        print(f"cloudclaudectl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return trio.run(_run, args, request)
    except CtlUnreachable as exc:
        print(f"error SYSTEM_009 daemon_unreachable: {exc}", file=sys.stderr)
        print("fix: start the daemon (`make up`) or pass --socket", file=sys.stderr)
        return EXIT_UNREACHABLE
    except m.ProtocolError as exc:
        print(f"error SYSTEM_008 protocol_error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
