"""Hypothesis strategies for hostile frames on the agent socket and the ctl socket.

A ``Script`` is what one connection sends: an optional hello (agent), body frames of named kinds
(valid, wrong types, unknown ops, missing or extra fields, not JSON, not an object, deep
nesting, interleaved ids) and an optional last frame that breaks the framing (truncated or
oversized). ``slow`` scripts are dribbled a few bytes at a time.

Safety net: the fuzzed processes run as root against the machine's dockerd, so a frame that the
real codec would decode into a request that changes anything is made invalid (an unknown key
added) before it is sent. Only the read-only ops in ``AGENT_SAFE`` and ``CTL_SAFE`` ever run.
"""

from __future__ import annotations

import json
import random
import types
import typing
from typing import Any

import attrs
from hypothesis import strategies as st

from agent.protocol import codec
from agent.protocol import messages as am
from agent.protocol.framing import HEADER
from agent.protocol.framing import MAX_FRAME as AGENT_MAX_FRAME
from cloudclaude.ctl import messages as cm
from cloudclaude.ctl.registry import REGISTRY
from cloudclaude.ctl.server import MAX_FRAME as CTL_MAX_FRAME

AGENT_OPS: dict[str, type[Any]] = {op: cls for cls, op in am._OPS.items()}
CTL_OPS: dict[str, type[Any]] = {op: c.message for op, c in REGISTRY.commands.items()}
AGENT_SAFE = frozenset({"ping", "host.list", "host.inspect", "host.stats"})
CTL_SAFE = frozenset(
    {"status", "users.list", "users.show", "hosts.list", "hosts.show", "tasks.list"}
    | {"tasks.show", "exits.list", "exits.show", "backup.list", "audit.tail"}
)
BODY_KINDS = (
    "valid",
    "interleaved",
    "wrong_types",
    "extra_keys",
    "missing_field",
    "unknown_op",
    "no_op",
    "not_object",
    "not_json",
    "deep",
)
FATAL_KINDS = ("truncated", "oversized")


@attrs.frozen
class Frame:
    """``data`` is the whole wire form (header included) of a frame of ``kind``."""

    kind: str
    data: bytes
    body: bytes | None = None  # the JSON body, None when the framing itself is broken


@attrs.frozen
class Script:
    frames: tuple[Frame, ...]
    slow: bool = False


scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.integers(-(2**40), 2**70) | st.integers(0, 3)


def value_for(kind: Any) -> st.SearchStrategy[Any]:
    """Well-typed JSON for a field annotation (nested attrs classes included)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return json_values
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(value_for(arg) for arg in args))
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (list, tuple):
        return st.lists(value_for(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), value_for(args[1]), max_size=3)
    if attrs.has(kind):
        return fields_of(kind)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(-5, 10**6),
        float: st.floats(-10, 1e6, allow_nan=False),
        str: st.text(max_size=24),
    }
    return simple.get(kind, json_values)


def fields_of(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    return st.fixed_dictionaries({f.name: value_for(hints[f.name]) for f in attrs.fields(cls)})


def message(
    ops: dict[str, type[Any]], names: frozenset[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed message dict of one of ``names`` (every op when None)."""
    chosen = sorted(names if names is not None else ops)
    return st.sampled_from(chosen).flatmap(
        lambda op: fields_of(ops[op]).map(lambda fields: {"op": op, **fields})
    )


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _agent_decodes_unsafe(obj: dict[str, Any]) -> bool:
    try:
        decoded = codec.decode(am.converter, _json(obj), am.Message)
    except codec.DecodeError:
        return False
    return am._OPS.get(type(decoded)) not in AGENT_SAFE | {"hello"} and not isinstance(
        decoded, am.Reply
    )


def _ctl_decodes_unsafe(obj: dict[str, Any]) -> bool:
    try:
        request = cm.decode_request(_json(obj))
    except cm.ProtocolError:
        return False
    op = REGISTRY.of(type(request)).op
    return op not in CTL_SAFE or bool(getattr(request, "follow", False))


def make_safe(target: str, obj: Any) -> Any:
    """``obj``, or ``obj`` with an unknown key when it would decode into a changing request."""
    if not isinstance(obj, dict):
        return obj
    unsafe = _agent_decodes_unsafe if target == "agent" else _ctl_decodes_unsafe
    return {**obj, "fuzz_unknown_key": True} if unsafe(obj) else obj


def _framed(kind: str, body: bytes) -> Frame:
    return Frame(kind, HEADER.pack(len(body)) + body, body)


def body_frame(target: str, kind: str) -> st.SearchStrategy[Frame]:
    ops = AGENT_OPS if target == "agent" else CTL_OPS
    safe = AGENT_SAFE if target == "agent" else CTL_SAFE
    objects: st.SearchStrategy[Any]
    if kind == "valid":
        objects = message(ops, safe)
    elif kind == "interleaved":  # pipelined pings whose ids repeat and cross
        objects = st.integers(0, 3).map(lambda i: {"op": "ping", "id": i})
    elif kind == "wrong_types":
        objects = st.tuples(message(ops), json_values, st.integers(0, 10)).map(_retype)
    elif kind == "extra_keys":
        extra = st.dictionaries(
            st.text(min_size=1, max_size=8), json_values, min_size=1, max_size=3
        )
        objects = st.tuples(message(ops), extra).map(lambda p: {**p[1], **p[0], "x_extra": 1})
    elif kind == "missing_field":
        objects = st.tuples(message(ops), st.integers(0, 10)).map(_drop_field)
    elif kind == "unknown_op":
        unknown = st.text(max_size=20).filter(lambda op: op not in ops)
        fields = st.dictionaries(st.sampled_from(["id", "host_id", "limit", "x"]), json_values)
        objects = st.tuples(unknown, fields).map(lambda p: {**p[1], "op": p[0]})
    elif kind == "no_op":
        objects = st.dictionaries(st.text(max_size=8).filter(lambda k: k != "op"), json_values)
    elif kind == "not_object":
        objects = json_values.filter(lambda v: not isinstance(v, dict))
    else:
        return _raw_body(kind)
    return objects.map(lambda obj: _framed(kind, _json(make_safe(target, obj))))


def _retype(parts: tuple[dict[str, Any], Any, int]) -> dict[str, Any]:
    obj, value, index = parts
    keys = [k for k in obj if k != "op"]
    if not keys:
        return {**obj, "op": [obj["op"]]}
    return {**obj, keys[index % len(keys)]: value}


def _drop_field(parts: tuple[dict[str, Any], int]) -> dict[str, Any]:
    obj, index = parts
    keys = list(obj)
    return {k: v for k, v in obj.items() if k != keys[index % len(keys)]}


def _raw_body(kind: str) -> st.SearchStrategy[Frame]:
    if kind == "deep":
        opener = st.sampled_from([b"[", b'{"a":', b'{"op":'])
        return st.tuples(opener, st.integers(1, 60_000)).map(lambda p: _framed(kind, p[0] * p[1]))
    garbage = st.binary(max_size=64) | st.text(max_size=40).map(lambda t: (t + '{"op"').encode())
    return garbage.filter(_not_json).map(lambda body: _framed(kind, body))


def _not_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return True
    return False


def fatal_frame(target: str, kind: str) -> st.SearchStrategy[Frame]:
    limit = AGENT_MAX_FRAME if target == "agent" else CTL_MAX_FRAME
    if kind == "truncated":  # the stream ends inside the header or inside the body
        return st.tuples(st.integers(1, limit), st.binary(max_size=32), st.booleans()).map(
            lambda p: Frame(
                kind, HEADER.pack(p[0])[:2] if p[2] else HEADER.pack(p[0]) + p[1][: p[0] - 1]
            )
        )
    lengths = st.integers(limit + 1, 2**32 - 1)
    lied = st.tuples(lengths, st.binary(max_size=32)).map(lambda p: HEADER.pack(p[0]) + p[1])
    # Now and then a real body one byte over the limit (cheap on ctl, 1 MiB on the agent).
    real = st.just(HEADER.pack(limit + 1) + b"[" * (limit + 1))
    weight = 30 if target == "ctl" else 2
    return (
        st.integers(0, 99)
        .flatmap(lambda n: real if n < weight else lied)
        .map(lambda data: Frame(kind, data))
    )


def any_body(target: str) -> st.SearchStrategy[Frame]:
    return st.sampled_from(BODY_KINDS).flatmap(lambda kind: body_frame(target, kind))


def hello() -> st.SearchStrategy[Frame]:
    good = {"op": "hello", "protocol_version": am.PROTOCOL_VERSION, "client": "fuzz"}
    wrong = st.integers(-3, 2**40).filter(lambda v: v != am.PROTOCOL_VERSION)
    return st.integers(0, 99).flatmap(
        lambda n: (
            st.just(_framed("hello", _json(good)))
            if n >= 10
            else wrong.map(
                lambda v: _framed("wrong_version", _json({**good, "protocol_version": v}))
            )
            if n >= 5
            else any_body("agent").map(lambda f: attrs.evolve(f, kind="bad_hello"))
        )
    )


@st.composite
def agent_scripts(draw: st.DrawFn) -> Script:
    first = draw(hello())
    if first.kind != "hello":
        return Script((first,))
    slow = draw(st.integers(0, 99)) < 3
    frames = draw(st.lists(any_body("agent"), max_size=3 if slow else 40))
    if draw(st.integers(0, 99)) < 15:
        frames.append(draw(st.sampled_from(FATAL_KINDS).flatmap(lambda k: fatal_frame("agent", k))))
    return Script((first, *frames), slow=slow)


@st.composite
def ctl_scripts(draw: st.DrawFn) -> Script:
    roll = draw(st.integers(0, 99))
    if roll < 2:
        return Script((Frame("empty", b""),))
    if roll < 20:
        frame = draw(st.sampled_from(FATAL_KINDS).flatmap(lambda k: fatal_frame("ctl", k)))
    else:
        frame = draw(any_body("ctl"))
    slow = draw(st.integers(0, 99)) < 3 and len(frame.data) < 400
    if 20 <= roll < 25:  # a second frame after the one request: never read, never answered
        return Script((frame, attrs.evolve(draw(any_body("ctl")), kind="after_request")), slow)
    return Script((frame,), slow)


def _mutate_body(rng: random.Random, body: bytes) -> bytes:
    at = rng.randrange(len(body) + 1)
    how = rng.randrange(4)
    if how == 0 and body:
        at = min(at, len(body) - 1)
        return body[:at] + bytes([body[at] ^ (1 << rng.randrange(8))]) + body[at + 1 :]
    if how == 1:
        return body[:at] + body[at + rng.randrange(1, 9) :]
    if how == 2:
        return body[:at] + body[at : at + 16] + body[at:]
    return (
        body[:at] + rng.choice([b"\x00", b'"', b"}", b"]", b",", b"\\u0000", b"1e999"]) + body[at:]
    )


def mutate(target: str, script: Script, rng: random.Random) -> Script:
    """``script`` with bytes of its body frames flipped, cut, doubled or inserted (cheap
    variants of a drawn script); a mutant the safety net would refuse keeps its original."""
    frames = []
    for index, frame in enumerate(script.frames):
        if frame.body is None or (target == "agent" and index == 0) or rng.random() < 0.3:
            frames.append(frame)
            continue
        body = _mutate_body(rng, frame.body)
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            obj = None
        if obj is not None and make_safe(target, obj) is not obj:
            frames.append(frame)
        else:
            frames.append(_framed("mutated", body))
    return Script(tuple(frames))  # mutants are sent at full speed
