"""Control-socket messages: one request frame per connection, then one or more reply frames.

Requests are the attrs classes declared in ``cloudclaude.ctl.commands``, tagged by ``"op"``;
the codec is derived from the registry: one cattrs converter with ``forbid_extra_keys`` over
the union of the declared classes, so an unknown op or field is a ``ProtocolError``, not a
crash.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Union

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from agent.protocol import codec
from cloudclaude.core.codec import strict_converter
from cloudclaude.ctl import commands  # noqa: F401  (declares the commands)
from cloudclaude.ctl.registry import REGISTRY, Registry, Request

__all__ = [
    "CODEC",
    "Codec",
    "ProtocolError",
    "Reply",
    "Request",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "encode_request",
]


class ProtocolError(Exception):
    """A frame that is not JSON or not a known message."""


@attrs.frozen(kw_only=True)
class Reply:
    """``ok`` carries ``data``; ``error`` the registry body; ``event`` one streamed item."""

    kind: Literal["ok", "error", "event"]
    data: Any = None
    error: dict[str, Any] | None = None


class Codec:
    """The tagged union of a registry's request classes (at least two), keyed by ``op``."""

    def __init__(self, registry: Registry) -> None:
        self.converter = strict_converter()
        ops = {c.message: op for op, c in registry.commands.items()}
        self.union: Any = Union[tuple(ops)]  # noqa: UP007  (built at run time)
        configure_tagged_union(
            self.union, self.converter, tag_generator=ops.__getitem__, tag_name="op"
        )

    def encode_request(self, request: Request) -> bytes:
        return json.dumps(self.converter.unstructure(request, self.union)).encode()

    def decode_request(self, body: bytes) -> Request:
        try:
            request: Request = codec.decode(self.converter, body, self.union)
        except codec.DecodeError as exc:
            raise ProtocolError(str(exc)) from exc
        if _unstorable(attrs.asdict(request)):  # PostgreSQL text cannot hold it: refused here
            raise ProtocolError("a string in the request has a NUL or a lone surrogate")
        return request


def _unstorable(value: Any) -> bool:
    """A string that is not valid UTF-8 text for PostgreSQL (a NUL, a lone surrogate)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(v) for v in value)
    return False


CODEC = Codec(REGISTRY)
encode_request = CODEC.encode_request
decode_request = CODEC.decode_request
_replies = strict_converter()


def encode_reply(reply: Reply) -> bytes:
    return json.dumps(attrs.asdict(reply)).encode()


def decode_reply(body: bytes) -> Reply:
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("reply is not a JSON object")
        return _replies.structure(data, Reply)
    except (ValueError, TypeError, UnicodeDecodeError, cattrs.BaseValidationError) as exc:
        raise ProtocolError(f"malformed reply from the daemon: {exc}") from exc
