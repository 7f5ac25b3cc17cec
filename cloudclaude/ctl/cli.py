"""``cloudclaudectl``: operate a running daemon over its control socket.

Exit codes: 0 success, 1 the daemon refused or failed the request (the error code is printed),
2 bad command-line arguments, 3 the daemon cannot be reached, 141 (128 + SIGPIPE, as a shell
reports a tool killed by SIGPIPE) when the reader of the output went away, e.g.
``cloudclaudectl audit tail | head -1``: the rest of the output is dropped, nothing is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence

import trio

from cloudclaude import __version__
from cloudclaude.ctl import commands
from cloudclaude.ctl import messages as m
from cloudclaude.ctl.client import CtlClient, CtlUnreachable
from cloudclaude.ctl.registry import REGISTRY, UsageError, request_of
from cloudclaude.errors import ErrorCode, system

DEFAULT_SOCKET = "/run/cloudclaude/ctl.sock"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def _parser() -> argparse.ArgumentParser:
    """The root parser; the commands under it come from the registry."""
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
        epilog=(
            "Exit codes: 0 ok, 1 request failed, 2 usage error, 3 daemon unreachable,"
            " 141 output pipe closed."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cloudclaudectl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    REGISTRY.add_commands(sub, common, commands.LISTING)
    return parser


async def _run(args: argparse.Namespace, request: m.Request) -> int:
    client = CtlClient(
        getattr(args, "socket", None) or os.environ.get("CLOUDCLAUDE_CTL__SOCKET", DEFAULT_SOCKET)
    )
    as_json = getattr(args, "json", False)
    command = REGISTRY.of(type(request))
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
            print(json.dumps(reply.data), flush=True) if as_json else command.events(reply.data)
            continue
        if as_json:
            print(json.dumps(reply.data, indent=2))
        else:
            command.printer(reply.data)
    return EXIT_OK


def _code(error: ErrorCode) -> str:
    return f"error {error.code} {error.slug}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closed the pipe (``| head``) ends it quietly.

    Python ignores SIGPIPE, so a closed pipe is a ``BrokenPipeError`` on a write or on the
    final flush (which ``finally`` forces here, ``--help`` and ``--version`` included).
    Standard output then points at /dev/null, so the interpreter's own flush at exit has
    nothing left to complain about.
    """
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        request = request_of(args)
    except UsageError as exc:
        print(f"cloudclaudectl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return trio.run(_run, args, request)
    except CtlUnreachable as exc:
        print(f"{_code(system.DAEMON_UNREACHABLE)}: {exc}", file=sys.stderr)
        print("fix: start the daemon (`make up`) or pass --socket", file=sys.stderr)
        return EXIT_UNREACHABLE
    except m.ProtocolError as exc:
        print(f"{_code(system.PROTOCOL_ERROR)}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
