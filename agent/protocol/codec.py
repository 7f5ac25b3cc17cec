"""The agent protocol's codec: one strict cattrs converter, JSON bodies, tagged unions by "op".

Strict means unknown keys are refused and scalars are not coerced (``"5"`` is no int, ``true``
is no int). Anything undecodable raises ``DecodeError``, which the server answers with an error
reply instead of crashing; that includes JSON nested too deep for the parser (a frame of ``[``
would otherwise raise ``RecursionError`` out of the connection). The daemon builds its own wire
converters on ``strict_converter``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import cattrs

T = TypeVar("T")


class DecodeError(Exception):
    """A frame that is not JSON, not an object, or not a known message."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _exact(kind: type[T]) -> Callable[[Any, Any], T]:
    def structure(value: Any, _type: Any) -> T:
        if type(value) is not kind:
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        result: T = value
        return result

    return structure


def strict_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, _exact(kind))
    converter.register_structure_hook(float, _number)
    return converter


def _number(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return float(value)


def decode(converter: cattrs.Converter, body: bytes, kind: Any) -> Any:
    """Structure ``body`` as ``kind``; a failure names the request id when it could be read."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"frame is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("frame is not a JSON object")
    request_id = data.get("id") if type(data.get("id")) is int else None
    if "op" not in data:
        raise DecodeError("frame has no 'op'", request_id)
    try:
        return converter.structure(data, kind)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, RecursionError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            problems = "; ".join(cattrs.transform_error(exc))
        else:
            problems = str(exc)
        raise DecodeError(f"unknown or malformed message: {problems}", request_id) from exc


def encode(converter: cattrs.Converter, message: Any, kind: Any) -> bytes:
    return json.dumps(converter.unstructure(message, kind)).encode()
