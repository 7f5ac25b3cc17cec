"""``cloudclaudectl exits create|update``: the exit options, and the exit fields they make.

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

import attrs

from cloudclaude.ctl.registry import Arg, UsageError
from cloudclaude.domain.exit_schema import KINDS


@attrs.frozen(eq=False)
class ExitFields:
    """The ``fields`` of ``exits create|update``: ``label`` (given first), then the options."""

    label: Arg
    names: tuple[str, ...] = ("fields",)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        self.label.add_to(parser)
        _exit_options(parser)

    def fields(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"fields": fields(args)}


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
_NOT_TEXT = frozenset({"port", "alter_id", "tls", "tls_insecure", "udp", "expected_resolvers"})
