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


def _message(kind: type[typing.Any]) -> st.SearchStrategy[typing.Any]:
    fields = {}
    for field in attrs.fields(kind):
        hint = typing.get_type_hints(kind)[field.name]
        strategy: st.SearchStrategy[typing.Any]
        if hint is int:
            strategy = _INT
        elif hint == int | None:
            strategy = st.none() | _INT
        elif hint is float:
            strategy = _FLOAT
        else:
            strategy = st.text()
        fields[field.name] = strategy
    return st.builds(kind, **fields)


def test_every_message_type_is_covered() -> None:
    assert {m.op_name(t) for t in MESSAGE_TYPES} == {
        "hello",
        "hello.reply",
        "ping",
        "pong",
        "progress",
        "error",
    }


@given(st.one_of(*(_message(t) for t in MESSAGE_TYPES)))
def test_round_trip(message: m.Message) -> None:
    assert decode(m.converter, encode(m.converter, message, m.Message), m.Message) == message
