"""The command registry: each ``cloudclaudectl`` command declared once, the rest derived.

A declaration is ``@command(...)`` on the request's attrs class: the op name, the command-line
path(s) with their arguments, and the human printer; ``@handles(RequestClass)`` on the
coroutine just below it is what the daemon does with it. From the registry come the parser
(``add_commands``), the request an argument namespace makes (``request_of``), the wire codec
(``messages.Codec``) and, on the daemon's side, the dispatch (``handler_of``, used by
``server.dispatch``).

Client-safe: only the standard library and attrs at run time (the handler's ``Context`` is a
type-only import), so ``cloudclaudectl`` never loads the daemon.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    from typing import TypeAlias

    from cloudclaude.ctl.server import Context

Printer = Callable[[Any], None]


@attrs.frozen
class Request:
    """Base of every request message; ``Registry.command`` gives each subclass its op."""


R = TypeVar("R", bound=Request)

if TYPE_CHECKING:
    #: What the daemon does with a request: the ``ok`` reply's data (events go via ``ctx``).
    Handler: TypeAlias = Callable[[R, Context], Awaitable[Any]]


class UsageError(Exception):
    """Command-line input that argparse cannot check (e.g. a bad ``--file``); exit code 2."""


class ArgSpec(Protocol):
    """Command-line arguments and the message fields they fill."""

    @property
    def names(self) -> tuple[str, ...]:
        """The message fields ``fields`` may return."""

    def add_to(self, parser: argparse.ArgumentParser) -> None: ...

    def fields(self, args: argparse.Namespace) -> dict[str, Any]: ...


@attrs.frozen(eq=False)
class Arg:
    """One argparse argument: ``options`` go to ``add_argument``, its value to ``field``."""

    flags: tuple[str, ...]
    options: Mapping[str, Any]
    field: str | None
    convert: Callable[[Any], Any] | None = None

    @property
    def dest(self) -> str:
        """The attribute argparse stores the value in (argparse's own rule)."""
        if "dest" in self.options:
            return str(self.options["dest"])
        if not self.flags[0].startswith("-"):
            return self.flags[0]
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")

    @property
    def names(self) -> tuple[str, ...]:
        return () if self.field is None else (self.field,)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.options)

    def fields(self, args: argparse.Namespace) -> dict[str, Any]:
        if self.field is None:
            return {}
        value = getattr(args, self.dest)
        return {self.field: self.convert(value) if self.convert else value}


_DEST = "\0"


def arg(
    *flags: str,
    field: str | None = _DEST,
    convert: Callable[[Any], Any] | None = None,
    **options: Any,
) -> Arg:
    """An argument filling ``field`` (default: the field named like its dest; None: no field)."""
    spec = Arg(flags, options, None, convert)
    return attrs.evolve(spec, field=spec.dest if field == _DEST else field)


@attrs.frozen(eq=False)
class Cli:
    """One command-line path to a command, with its help, arguments and fixed fields."""

    path: tuple[str, ...]
    help: str
    args: tuple[ArgSpec, ...]
    fixed: Mapping[str, Any]


def cli(path: str, help: str, *args: ArgSpec, **fixed: Any) -> Cli:
    """``cli("hosts start", "queue a start", HOST, action="start")``."""
    words = tuple(path.split())
    if not 1 <= len(words) <= 2:
        raise ValueError(f"{path!r}: a command line path is one or two words")
    return Cli(words, help, args, fixed)


def text(value: Any) -> str:
    """A reply value as a person reads it: no Python reprs (``None``, ``True``, ``['a']``).

    None and empty collections are ``-``, booleans ``yes``/``no``, lists ``a, b``, mappings
    ``k=v k=v``; anything else is ``str(value)``.
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={text(v)}" for k, v in value.items()) or "-"
    return str(value)


def print_fields(data: Any) -> None:
    """The generic printer: one ``key: value`` line per field of the reply."""
    for key, value in data.items():
        print(f"{key}: {text(value)}")


@attrs.frozen(eq=False)
class Command:
    """A declared command: its op, message class, command-line paths and printers."""

    op: str
    message: type[Request]
    clis: tuple[Cli, ...]
    printer: Printer
    events: Printer

    def request(self, entry: Cli, args: argparse.Namespace) -> Request:
        """The message ``args`` (parsed for ``entry``) makes."""
        fields: dict[str, Any] = {}
        for spec in entry.args:
            fields.update(spec.fields(args))
        fields.update(entry.fixed)
        return self.message(**fields)


class Registry:
    """Commands by op and by message class, their handlers, and the top-level groups' help."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.groups: dict[str, str] = {}
        self.handlers: dict[type[Request], Handler[Any]] = {}
        self._by_type: dict[type[Request], Command] = {}

    def group(self, word: str, help: str) -> None:
        """Declare a top-level word whose actions are the second words of commands."""
        if word in self.groups:
            raise ValueError(f"group {word!r} declared twice")
        self.groups[word] = help

    def command(
        self,
        op: str,
        help: str | None = None,
        *args: ArgSpec,
        cli: Sequence[Cli] = (),
        printer: Printer = print_fields,
        events: Printer = print_fields,
    ) -> Callable[[type[R]], type[R]]:
        """Declare the decorated attrs class as the request of ``op``.

        With ``help``, the command line path is the op's words (``users.add`` → ``users add``)
        taking ``args``; otherwise ``cli`` lists its paths. ``events`` prints streamed items.
        """
        if (help is None) == (not cli):
            raise ValueError(f"{op}: give either help (and args) or cli, not both")
        entries = tuple(cli) or (Cli(tuple(op.split(".")), help or "", args, {}),)

        def declare(message: type[R]) -> type[R]:
            if op in self.commands or message in self._by_type:
                raise ValueError(f"{op} ({message.__name__}) declared twice")
            for entry in entries:
                _check_fields(op, message, entry)
            command = Command(op, message, entries, printer, events)
            self.commands[op] = command
            self._by_type[message] = command
            return message

        return declare

    def handles(self, message: type[R]) -> Callable[[Handler[R]], Handler[R]]:
        """Attach the decorated coroutine as what the daemon does with ``message``.

        It runs only in the daemon and reaches data through ``ctx.services``; what else it
        needs of the daemon (``core.health``, the ``Context`` type) it imports in its body or
        for type checking only, since the client defines it too.
        """

        def attach(handler: Handler[R]) -> Handler[R]:
            if message not in self._by_type:
                raise ValueError(f"{message.__name__} is not a declared command")
            if message in self.handlers:
                raise ValueError(f"{message.__name__} has two handlers")
            self.handlers[message] = handler
            return handler

        return attach

    def of(self, message: type[Request]) -> Command:
        return self._by_type[message]

    def handler_of(self, message: type[Request]) -> Handler[Any]:
        return self.handlers[message]

    def add_commands(
        self,
        sub: Any,
        common: argparse.ArgumentParser,
        order: Iterable[str] = (),
    ) -> None:
        """Add every command line path to the subparsers ``sub``, top-level words in ``order``
        (words not listed follow, in declaration order); each leaf records its command."""
        listed = list(order)
        entries = [(c, e) for c in self.commands.values() for e in c.clis]
        entries.sort(key=lambda ce: _rank(listed, ce[1].path[0]))
        actions: dict[str, Any] = {}
        for command, entry in entries:
            word, *rest = entry.path
            if not rest:
                parser = sub.add_parser(word, parents=[common], help=entry.help)
            else:
                if word not in actions:
                    group = sub.add_parser(word, parents=[common], help=self.groups[word])
                    actions[word] = group.add_subparsers(
                        dest="action", required=True, metavar="ACTION"
                    )
                parser = actions[word].add_parser(rest[0], parents=[common], help=entry.help)
            for spec in entry.args:
                spec.add_to(parser)
            parser.set_defaults(ctl_request=functools.partial(command.request, entry))


def _rank(order: list[str], word: str) -> int:
    return order.index(word) if word in order else len(order)


def _check_fields(op: str, message: type[Request], entry: Cli) -> None:
    """Refuse, at declaration, a path that fills unknown fields or misses a required one."""
    declared = attrs.fields_dict(message)
    filled = [n for spec in entry.args for n in spec.names] + list(entry.fixed)
    unknown = set(filled) - set(declared)
    missing = {n for n, a in declared.items() if a.default is attrs.NOTHING} - set(filled)
    if unknown or missing:
        where = f"{op} ({' '.join(entry.path)})"
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}, missing {sorted(missing)}")


def request_of(args: argparse.Namespace) -> Request:
    """The request a namespace parsed by an ``add_commands`` parser makes."""
    build: Callable[[argparse.Namespace], Request] = args.ctl_request
    return build(args)


#: The commands of ``cloudclaudectl``, filled by ``cloudclaude.ctl.commands``.
REGISTRY = Registry()
command = REGISTRY.command
handles = REGISTRY.handles
group = REGISTRY.group
