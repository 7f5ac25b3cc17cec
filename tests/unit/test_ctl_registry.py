"""The ctl command registry (cloudclaude/ctl/registry.py): everything derives from it.

Every declared command parses from its command line paths, round-trips through the codec,
has exactly one handler (declared beside it) and a printer; the client, which imports the
handlers too, loads no daemon module; a command declared in a fresh registry, handler
included, parses, encodes, dispatches and prints with no other edit.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.ctl import cli as ctl_cli
from cloudclaude.ctl import messages
from cloudclaude.ctl.registry import (
    REGISTRY,
    Arg,
    Cli,
    Command,
    Registry,
    Request,
    arg,
    cli,
    request_of,
)
from cloudclaude.ctl.server import Context, dispatch
from cloudclaude.model.audit import Actor

ROOT = Path(__file__).resolve().parents[2]

PATHS = [(c, e) for c in REGISTRY.commands.values() for e in c.clis]


def _argv(entry: Cli) -> list[str]:
    """The path and a value for each required positional argument."""
    required = [
        spec
        for spec in entry.args
        if isinstance(spec, Arg) and not spec.flags[0].startswith("-")
        if spec.options.get("nargs") != "?"
    ]
    return [*entry.path, *(f"v{i}" for i, _ in enumerate(required))]


@pytest.mark.parametrize(("command", "entry"), PATHS, ids=[" ".join(e.path) for _, e in PATHS])
def test_every_path_parses_to_its_request_and_round_trips(
    command: Command, entry: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a path reads from standard input (an API key) is piped in.
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-ant-piped-in-key-0123456789\n"))
    request = request_of(ctl_cli._parser().parse_args(_argv(entry)))
    assert type(request) is command.message
    for name, value in entry.fixed.items():
        assert getattr(request, name) == value
    body = messages.encode_request(request)
    assert json.loads(body)["op"] == command.op
    assert messages.decode_request(body) == request


def test_every_command_has_exactly_one_handler_declared_beside_it() -> None:
    declared = {c.message for c in REGISTRY.commands.values()}
    assert set(REGISTRY.handlers) == declared
    for message, handler in REGISTRY.handlers.items():
        assert inspect.iscoroutinefunction(handler), message.__name__
        assert handler.__module__ == message.__module__, message.__name__


def test_every_command_has_printers() -> None:
    for command in REGISTRY.commands.values():
        assert callable(command.printer) and callable(command.events), command.op


def test_every_group_is_declared_and_listed_in_help_order() -> None:
    from cloudclaude.ctl.commands import LISTING

    words = {e.path[0] for _, e in PATHS}
    assert {e.path[0] for _, e in PATHS if len(e.path) == 2} <= set(REGISTRY.groups)
    assert words == set(LISTING)


DAEMON_ONLY = (
    "cloudclaude.ctl.server",
    "cloudclaude.app",
    "cloudclaude.core.health",
    "cloudclaude.db",
    "cloudclaude.agent_client",
    "cloudclaude.background",
    "cloudclaude.tasks",
    "cloudclaude.sshproxy",
    "asyncpg",
    "asyncssh",
    "quart",
)


def _loaded_by(module: str) -> tuple[list[str], int]:
    """The daemon modules a fresh interpreter loads importing ``module``; the handler count."""
    script = (
        f"import json, sys, {module}\n"
        "from cloudclaude.ctl.registry import REGISTRY\n"
        "print(json.dumps([sorted(sys.modules), len(REGISTRY.handlers)]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, cwd=ROOT)
    loaded, handled = json.loads(done.stdout)
    bad = [n for n in loaded if any(n == p or n.startswith(p + ".") for p in DAEMON_ONLY)]
    domain = [n for n in loaded if n.startswith("cloudclaude.domain.")]
    return bad + [n for n in domain if n != "cloudclaude.domain.exit_schema"], handled


def test_the_client_loads_no_daemon_module() -> None:
    """``cloudclaudectl`` defines every handler yet loads no server, service, database or SSH
    module: what a handler needs of the daemon it imports lazily or for type checking only."""
    bad, handled = _loaded_by("cloudclaude.ctl.cli")
    assert bad == []
    assert handled == len(REGISTRY.commands)


def test_the_daemon_side_loads_what_the_client_must_not() -> None:
    """The check above sees daemon modules when they are there (the server's, here)."""
    bad, _ = _loaded_by("cloudclaude.ctl.server")
    assert {"cloudclaude.ctl.server", "cloudclaude.app.wiring", "asyncpg"} <= set(bad)


# A registry of its own: what adding a command takes.

toy = Registry()
toy.group("toy", "toy commands")


@toy.command("toy.echo", "say it back", arg("text"), arg("--times", type=int, default=1))
@attrs.frozen(kw_only=True)
class Echo(Request):
    text: str
    times: int = 1


@toy.handles(Echo)
async def echo(request: Echo, ctx: Context) -> Any:
    await ctx.event({"partial": request.text})
    return {"said": " ".join([request.text] * request.times)}


def _print_ping(data: Any) -> None:
    print(f"pong {data['n']}")


@toy.command(
    "ping",
    cli=(cli("ping", "are you there", n=1), cli("toy ping", "again", n=2)),
    printer=_print_ping,
)
@attrs.frozen(kw_only=True)
class Ping(Request):
    n: int


@toy.handles(Ping)
async def ping(request: Ping, ctx: Context) -> Any:
    return {"n": request.n}


def _toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toy")
    common = argparse.ArgumentParser(add_help=False)
    toy.add_commands(parser.add_subparsers(dest="command", required=True), common)
    return parser


@pytest.mark.parametrize(
    ("argv", "expected", "printed"),
    [
        (["toy", "echo", "hi", "--times", "2"], Echo(text="hi", times=2), "said: hi hi\n"),
        (["ping"], Ping(n=1), "pong 1\n"),
        (["toy", "ping"], Ping(n=2), "pong 2\n"),
    ],
)
async def test_a_declared_command_parses_encodes_dispatches_and_prints(
    argv: list[str], expected: Request, printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    request = request_of(_toy_parser().parse_args(argv))
    assert request == expected
    codec = messages.Codec(toy)
    assert codec.decode_request(codec.encode_request(request)) == request
    replies: list[messages.Reply] = []

    async def send(reply: messages.Reply) -> None:
        replies.append(reply)

    services = cast(Services, None)
    ctx = Context(services=services, actor=Actor(name="t"), stopping=trio.Event(), send=send)
    await dispatch(toy, request, ctx)
    assert [r.kind for r in replies] == (["event", "ok"] if isinstance(request, Echo) else ["ok"])
    toy.of(type(request)).printer(replies[-1].data)
    assert capsys.readouterr().out == printed


def test_a_declaration_missing_a_required_field_is_refused() -> None:
    with pytest.raises(ValueError, match="missing"):

        @toy.command("toy.broken", "no argument fills text")
        @attrs.frozen(kw_only=True)
        class Broken(Request):
            text: str


def test_a_declaration_filling_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):

        @toy.command("toy.odd", "fills nothing it has", arg("--colour"))
        @attrs.frozen(kw_only=True)
        class Odd(Request):
            pass


def test_an_op_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):

        @toy.command("ping", "again")
        @attrs.frozen(kw_only=True)
        class Ping2(Request):
            pass


def test_a_second_handler_is_refused() -> None:
    with pytest.raises(ValueError, match="two handlers"):
        toy.handles(Ping)(ping)


def test_a_handler_of_an_undeclared_request_is_refused() -> None:
    @attrs.frozen(kw_only=True)
    class Stray(Request):
        pass

    async def stray(request: Stray, ctx: Context) -> Any:
        return None

    with pytest.raises(ValueError, match="not a declared command"):
        toy.handles(Stray)(stray)
