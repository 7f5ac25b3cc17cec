"""The strict cattrs converter used for every wire format (API bodies, ctl frames).

Unknown keys are refused, and scalars are not coerced: ``"5"`` is not an int, ``true`` is not
an int, ``5`` is not a string. Dates are ISO 8601 strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import cattrs

from cloudclaude.timefmt import parse_datetime

T = TypeVar("T")


def _exact(kind: type[T]) -> Callable[[Any, Any], T]:
    def structure(value: Any, _type: Any) -> T:
        if type(value) is not kind:
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        result: T = value
        return result

    return structure


def strict_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(dt.datetime, parse_datetime)
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, _exact(kind))
    return converter
