"""``cloud-claude``: one table of commands (name, handler, help, arguments); the rest derives."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from cloudclaude.client import checkout_command, doctor, exit_codes, hosts, session
from cloudclaude.client.api import ApiError
from cloudclaude.client.explain import describe, lookup
from cloudclaude.client.output import show
from cloudclaude.client.ssh_commands import (
    cmd_connect,
    cmd_cp,
    cmd_forward,
    cmd_sessions,
    cmd_ssh,
    cmd_ssh_config,
    cmd_sync,
)


class Command(NamedTuple):
    handler: Callable[[argparse.Namespace], int]
    summary: str
    arguments: Callable[[argparse.ArgumentParser], None]


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _host_arg(parser: argparse.ArgumentParser, optional: bool = True) -> None:
    parser.add_argument(
        "host", nargs="?" if optional else None, help="short id (default: your latest host)"
    )


# --- commands -----------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    server = args.server or os.environ.get("CLOUD_CLAUDE_SERVER", "")
    if not server:
        raise ApiError("no server given", fix="cloud-claude login https://SERVER:8080")
    username = args.username or input("Username: ").strip()
    password = session.read_password("Password: ", args.password_stdin)
    signed = session.login(server, username, password, args.yes)
    _, api = session.signed_in()
    key = session.ensure_key(signed, api, password)
    print(f"Signed in to {signed.server} as {signed.username}; SSH key {key['path']}")
    return exit_codes.OK


def cmd_logout(_args: argparse.Namespace) -> int:
    session.logout()
    print("Signed out (the token no longer works).")
    return exit_codes.OK


def cmd_ls(args: argparse.Namespace) -> int:
    _, api = session.signed_in()
    found = hosts.all_hosts(api)
    show(args, found, hosts.table(found) if found else "No hosts (cloud-claude create).")
    return exit_codes.OK


def cmd_status(args: argparse.Namespace) -> int:
    _, api = session.signed_in()
    host = hosts.find(api, args.host)
    show(args, host, hosts.table([host]))
    return exit_codes.OK


def _action(action: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        _, api = session.signed_in()
        host = hosts.find(api, args.host)
        if action == "rebuild" and not args.yes:
            print(f"Rebuild {host['short_id']}: everything outside the home is lost.")
            if not sys.stdin.isatty() or input("Go on? [y/N] ").strip().lower() != "y":
                return exit_codes.FAILED
        task = hosts.act(api, host, action, quiet=args.json)
        show(args, task, f"{host['short_id']}: {action} done")
        return exit_codes.OK

    return run


def cmd_create(args: argparse.Namespace) -> int:
    _, api = session.signed_in()
    body: dict[str, Any] = {"start": not args.no_start}
    if args.preset:
        body["preset"] = args.preset
    _, made = api.call("POST", "/v1/user/hosts", body)
    hosts.wait(api, str(made["task_id"]), quiet=args.json)
    show(args, made, f"{made['short_id']}: made" + ("" if args.no_start else " and started"))
    return exit_codes.OK


def cmd_delete(args: argparse.Namespace) -> int:
    _, api = session.signed_in()
    host = hosts.find(api, args.host)
    if args.yes is not True and input(f"Type {host['short_id']} to delete it: ").strip() != str(
        host["short_id"]
    ):
        return exit_codes.FAILED
    _, queued = api.call("DELETE", f"/v1/user/hosts/{host['id']}")
    hosts.wait(api, str(queued["task_id"]), quiet=args.json)
    show(args, {"deleted": host["short_id"]}, f"{host['short_id']}: deleted")
    return exit_codes.OK


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = doctor.run(args.fix, lambda: session.read_password("Password: ", args.password_stdin))
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    text = "\n".join(
        f"{marks[c.verdict]}  {c.name}: {c.detail}" + (f"\n      fix: {c.fix}" if c.fix else "")
        for c in checks
    )
    show(args, doctor.as_dicts(checks), text)
    return doctor.status_of(checks)


def cmd_explain(args: argparse.Namespace) -> int:
    row = lookup(args.code)
    if row is None:
        print(f"{args.code}: not a code of the error registry", file=sys.stderr)
        return exit_codes.UNKNOWN_CODE
    show(args, row, describe(row))
    return exit_codes.OK


def _args(
    *adders: Callable[[argparse.ArgumentParser], Any],
) -> Callable[[argparse.ArgumentParser], None]:
    """An ``arguments`` function made of several adders."""

    def add(parser: argparse.ArgumentParser) -> None:
        for adder in adders:
            adder(parser)

    return add


def _flag(name: str, help_text: str = "") -> Callable[[argparse.ArgumentParser], Any]:
    return lambda p: p.add_argument(name, action="store_true", help=help_text or None)


def _option(*names: str, help_text: str = "") -> Callable[[argparse.ArgumentParser], Any]:
    return lambda p: p.add_argument(*names, help=help_text or None)


_HOST_JSON = _args(_host_arg, _json_flag)

COMMANDS: dict[str, Command] = {
    "login": Command(
        cmd_login,
        "sign in; pins the server's TLS and SSH keys on first use",
        _args(
            lambda p: p.add_argument(
                "server", nargs="?", help="https://SERVER:PORT (or CLOUD_CLAUDE_SERVER)"
            ),
            _option("--username", "-u"),
            _flag("--password-stdin", "read the password from standard input"),
            _flag("--yes", "trust the keys the server shows (compare them with /me)"),
        ),
    ),
    "logout": Command(cmd_logout, "end the session (the token stops working)", _args()),
    "ls": Command(cmd_ls, "list your hosts", _json_flag),
    "status": Command(cmd_status, "show one host", _HOST_JSON),
    "create": Command(
        cmd_create,
        "make a host (self-service) and start it",
        _args(_option("--preset"), _flag("--no-start"), _json_flag),
    ),
    "start": Command(_action("start"), "start a host", _HOST_JSON),
    "stop": Command(_action("stop"), "stop a host", _HOST_JSON),
    "rebuild": Command(
        _action("rebuild"),
        "rebuild a host (everything outside the home is lost)",
        _args(_host_arg, _flag("--yes", "do not ask"), _json_flag),
    ),
    "delete": Command(
        cmd_delete,
        "delete a host and its home",
        _args(lambda p: _host_arg(p, optional=False), _flag("--yes", "do not ask"), _json_flag),
    ),
    "connect": Command(
        cmd_connect,
        "attach to the host's tmux session",
        _args(_host_arg, _flag("--new-session"), _flag("--take-over")),
    ),
    "ssh": Command(
        cmd_ssh,
        "run a command in the host (its exit status passes through)",
        _args(
            _host_arg,
            lambda p: p.add_argument("remote", nargs=argparse.REMAINDER, metavar="-- COMMAND"),
        ),
    ),
    "ssh-config": Command(
        cmd_ssh_config,
        "a Host block per box for ssh, scp, git, VS Code and JetBrains",
        _flag("--write", "write it under ~/.config/cloud-claude/ to Include"),
    ),
    "doctor": Command(
        cmd_doctor,
        "check (and with --fix repair) what stands between you and your box; exit 0/1/2",
        _args(
            _flag("--fix", "make and register the SSH key"),
            _flag("--password-stdin", "read the password (if --fix asks) from standard input"),
            _json_flag,
        ),
    ),
    "cp": Command(
        cmd_cp,
        "copy files to or from a box (HOST:PATH, or :PATH for your latest host)",
        _args(lambda p: p.add_argument("paths", nargs="+", metavar="SRC... DST")),
    ),
    "sync": Command(
        cmd_sync,
        "rsync a directory to or from a box (HOST:PATH)",
        _args(
            lambda p: p.add_argument("paths", nargs="+", metavar="SRC... DST"),
            _flag("--delete", "delete what the source does not have"),
        ),
    ),
    "sessions": Command(
        cmd_sessions,
        "the box's tmux sessions: ls, or attach NAME",
        _args(
            lambda p: p.add_argument("action", choices=("ls", "attach")),
            lambda p: p.add_argument("name", nargs="?"),
            lambda p: p.add_argument("--host"),
            _json_flag,
        ),
    ),
    "forward": Command(
        cmd_forward,
        "a local port to the box's localhost (LOCAL[:BOXPORT]); it reconnects by itself",
        _args(
            _host_arg,
            lambda p: p.add_argument("ports", metavar="LOCAL[:BOXPORT]"),
            lambda p: p.add_argument("--max-tries", type=int, default=0, help="0: forever"),
        ),
    ),
    "explain": Command(
        cmd_explain,
        "explain an error code (offline)",
        _args(lambda p: p.add_argument("code"), _json_flag),
    ),
}


def parser() -> argparse.ArgumentParser:
    statuses = "\n".join(f"  {k}  {v}" for k, v in exit_codes.DESCRIPTIONS.items())
    top = argparse.ArgumentParser(
        prog="cloud-claude",
        usage="cloud-claude [--host H] [--new-session | --take-over] [CLAUDE ARGS...]\n"
        "       cloud-claude COMMAND [ARGS...]",
        description="Claude Code in your cloudclaude box. In a git checkout, cloud-claude "
        "[CLAUDE ARGS...] runs Claude Code in your box on this checkout (mounted into the box "
        "at the same path); elsewhere, cloud-claude connect attaches to the plain session.",
        epilog="exit statuses:\n" + statuses + "\n  other: the error registry's exit code"
        " (cloud-claude explain CODE)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subs = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subs.add_parser(name, help=command.summary, description=command.summary)
        command.arguments(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Not a command: Claude Code's arguments, for the checkout this runs in.
    in_checkout = not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"))
    try:
        if in_checkout:
            return checkout_command.main(argv)
        args = parser().parse_args(argv)
        return COMMANDS[args.command].handler(args)
    except ApiError as exc:
        code = f"{exc.code} " if exc.code else ""
        print(f"cloud-claude: {code}{exc}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
