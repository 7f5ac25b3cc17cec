"""``cloudclaudectl exits``: its arguments, and the exit fields they make.

Fields come from ``--file`` (a JSON object like the API body; ``-`` reads standard input), then
the named options, then ``--set KEY=VALUE`` for any other field. Secrets are best given in the
file or with ``--password-stdin``, so they stay out of the process list and shell history.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cloudclaude.domain.exit_schema import KINDS


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``exits list|show|create|update|delete|bind|unbind``."""
    exits = sub.add_parser("exits", parents=[common], help="exits (egress IPs) and host bindings")
    es = exits.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = es.add_parser("list", parents=[common], help="list exits")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    es.add_parser("show", parents=[common], help="an exit and its hosts").add_argument(
        "exit", help="exit id or label"
    )
    p = es.add_parser("create", parents=[common], help="create an exit (secrets are masked)")
    p.add_argument("label", nargs="?", help="the exit's label (or give it in --file)")
    _exit_options(p)
    p = es.add_parser("update", parents=[common], help="change the given fields of an exit")
    p.add_argument("exit", help="exit id or label")
    p.add_argument("--label", help="a new label")
    _exit_options(p)
    es.add_parser("delete", parents=[common], help="delete an exit no host uses").add_argument(
        "exit", help="exit id or label"
    )
    es.add_parser(
        "test", parents=[common], help="queue a test of an exit from a throwaway namespace"
    ).add_argument("exit", help="exit id or label")
    p = es.add_parser("bind", parents=[common], help="give a host (not running) its exit")
    p.add_argument("host", help="host id or short id")
    p.add_argument("exit", help="exit id or label")
    p = es.add_parser("unbind", parents=[common], help="remove a host's exit (not while it runs)")
    p.add_argument("host", help="host id or short id")


def _exit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=list(KINDS))
    p.add_argument("--server", help="the exit server's IPv4 address or host name")
    p.add_argument("--port", type=int)
    p.add_argument("--expected-ip", metavar="IP", help="the address the internet sees")
    p.add_argument("--dns-server", metavar="IP", help="the resolver reached through the exit")
    p.add_argument(
        "--resolver",
        action="append",
        dest="expected_resolvers",
        metavar="IP",
        help="an expected resolver (repeat; default: dns server and expected ip)",
    )
    p.add_argument("--verify-url", metavar="URL", help="answers the caller's address as text")
    p.add_argument("--verify-dns-name", metavar="NAME", help="TXT answer: the asking resolver")
    p.add_argument("--username")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other field (VALUE read as JSON when it parses: true, 0, null clears)",
    )
    p.add_argument("--file", metavar="FILE", help="a JSON object of fields ('-': standard input)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


class UsageError(Exception):
    """Command-line input that argparse cannot check (a bad --file or --set)."""


def fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``exits create|update``: the file, then options, then ``--set``."""
    out: dict[str, Any] = {}
    if args.file:
        if args.file == "-" and args.password_stdin:
            raise UsageError("--file - and --password-stdin both read standard input")
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--file {args.file}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--file {args.file}: not a JSON object")
        out.update(data)
    for name in _EXIT_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    for item in args.set:
        key, value = _setting(item)
        out[key] = value
    if args.password_stdin:
        out["password"] = sys.stdin.readline().rstrip("\r\n")
    return out


def _setting(item: str) -> tuple[str, Any]:
    """``KEY=VALUE``: ``null`` clears; non-text fields take JSON (``true``, ``0``, ``["…"]``)."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise UsageError(f"--set {item!r}: expected KEY=VALUE")
    if text == "null":
        return key, None
    if key not in _NOT_TEXT:
        return key, text
    try:
        return key, json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--set {item!r}: {key} takes a JSON value ({exc})") from exc


_EXIT_OPTIONS = (
    "label",
    "kind",
    "server",
    "port",
    "expected_ip",
    "dns_server",
    "expected_resolvers",
    "verify_url",
    "verify_dns_name",
    "username",
)
_NOT_TEXT = frozenset({"port", "alter_id", "tls", "tls_insecure", "expected_resolvers"})
