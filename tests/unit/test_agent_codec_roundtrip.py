"""Every agent protocol message survives encode → decode unchanged (property-based)."""

from __future__ import annotations

import typing

import attrs
from hypothesis import given
from hypothesis import strategies as st

from agent.protocol import messages as m
from agent.protocol.codec import decode, encode

MESSAGE_TYPES = typing.get_args(m.Message)
# JSON has one number type: keep floats finite, and ints in the range JSON peers agree on.
_INT = st.integers(min_value=-(2**53), max_value=2**53)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


def _strategy(hint: typing.Any) -> st.SearchStrategy[typing.Any]:
    """A strategy for one field type: scalars, optionals, lists and nested attrs classes."""
    if hint is int:
        return _INT
    if hint is float:
        return _FLOAT
    if hint is bool:
        return st.booleans()
    if hint is str:
        return st.text()
    if typing.get_origin(hint) is list:
        return st.lists(_strategy(typing.get_args(hint)[0]), max_size=3)
    if typing.get_origin(hint) is dict:
        key, value = typing.get_args(hint)
        return st.dictionaries(_strategy(key), _strategy(value), max_size=3)
    if attrs.has(hint):
        return _message(hint)
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(options) == 1:
        return st.none() | _strategy(options[0])
    raise TypeError(f"no strategy for {hint!r}")


def _message(kind: type[typing.Any]) -> st.SearchStrategy[typing.Any]:
    hints = typing.get_type_hints(kind)
    return st.builds(kind, **{f.name: _strategy(hints[f.name]) for f in attrs.fields(kind)})


def test_every_message_type_is_covered() -> None:
    ops = {m.op_name(t) for t in MESSAGE_TYPES}
    assert {"hello", "hello.reply", "ping", "pong", "progress", "error"} <= ops
    assert {"host.create", "host.start", "port.open", "port.opened", "image.ensure"} <= ops
    assert {"egress.setup", "egress.verify", "egress.list"} <= ops
    assert len(ops) == len(MESSAGE_TYPES)  # one op name per type


@given(st.one_of(*(_message(t) for t in MESSAGE_TYPES)))
def test_round_trip(message: m.Message) -> None:
    assert decode(m.converter, encode(m.converter, message, m.Message), m.Message) == message


#: Field names that would let a caller choose a host path, an image or a command.
_POWERFUL = {"image", "mounts", "mount", "source", "path", "argv", "cmd", "command", "user", "dns"}


def _field_names(kind: type[typing.Any]) -> set[str]:
    names: set[str] = set()
    hints = typing.get_type_hints(kind)
    for field in attrs.fields(kind):
        names.add(field.name)
        for inner in (hints[field.name], *typing.get_args(hints[field.name])):
            if attrs.has(inner):
                names |= _field_names(inner)
    return names


#: The one exception: a checkout's mount point, a path *inside the box* (never on the host),
#: checked by name (``agent.ops.checkout_path``) and walked without following symlinks there.
_BOX_PATHS: dict[type[typing.Any], set[str]] = {
    m.MountCheckout: {"path"},
    m.UnmountCheckout: {"path"},
}


def test_no_request_names_a_host_path_an_image_or_a_command() -> None:
    requests = typing.get_args(m.Request)
    assert "host.exec" not in {m.op_name(t) for t in MESSAGE_TYPES}
    for kind in requests:
        assert not _field_names(kind) & _POWERFUL - _BOX_PATHS.get(kind, set()), kind
