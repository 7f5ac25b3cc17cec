"""JSON Schema (2020-12, the dialect of OpenAPI 3.1) of the attrs classes the API reads and writes.

The request bodies are the very classes the handlers structure with ``web.api.common.converter``
(strict: unknown keys refused, no coercion), so an object's schema has
``additionalProperties: false`` and lists as required the fields without a default. Bounds come
from the fields' attrs validators (``max_len``, ``ge``, ``in_`` …), descriptions from the
class docstring and the ``#:`` comment above a field, so nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import types
import typing
import uuid
from typing import Any

import attrs

Schema = dict[str, Any]

_SCALARS: dict[object, Schema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}
_LISTS = (list, tuple, set, frozenset)
_DOC_LINE = re.compile(r"^\s*#:\s?(.*)$")
_FIELD_LINE = re.compile(r"^\s*(\w+)\s*:")
#: ``attrs.validators.ge`` and friends keep their operator as text.
_BOUNDS = {
    ">=": "minimum",
    "<=": "maximum",
    ">": "exclusiveMinimum",
    "<": "exclusiveMaximum",
}


def extra_fields_allowed(cls: type) -> bool:
    """A class may say ``open_object: ClassVar[bool] = True`` when its answer carries fields
    that depend on the row (an exit's kind-specific settings)."""
    return bool(getattr(cls, "open_object", False))


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field in ``cls``'s source (Sphinx's convention)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        comment = _DOC_LINE.match(line)
        if comment:
            pending.append(comment.group(1).strip())
            continue
        field = _FIELD_LINE.match(line)
        if field and pending:
            docs[field.group(1)] = " ".join(pending)
        pending = []
    return docs


def schema_name(kind: Any) -> str:
    """``UserOut``; a generic one after its arguments (``Page[HostOut]``: ``HostOutPage``)."""
    origin = typing.get_origin(kind)
    if origin is None:
        return str(kind.__name__)
    return "".join(schema_name(arg) for arg in typing.get_args(kind)) + str(origin.__name__)


def _bounds(validator: Any) -> Schema:
    """What the standard attrs validators say, as JSON Schema keywords."""
    found: Schema = {}
    inner = getattr(validator, "_validators", None) or getattr(validator, "validators", None)
    if isinstance(inner, tuple | list):
        for one in inner:
            found.update(_bounds(one))
        return found
    nested = getattr(validator, "validator", None)
    if nested is not None:  # attrs.validators.optional(...)
        return _bounds(nested)
    if hasattr(validator, "max_length"):
        found["maxLength"] = validator.max_length
    if hasattr(validator, "min_length"):
        found["minLength"] = validator.min_length
    op = getattr(validator, "compare_op", None)
    if op in _BOUNDS:
        found[_BOUNDS[op]] = validator.bound
    options = getattr(validator, "options", None)
    if isinstance(options, tuple | list | frozenset | set):
        found["enum"] = sorted(options)
    return found


def _type_arguments(kind: Any) -> dict[Any, Any]:
    """What the type variables of ``kind``'s class and of its generic bases stand for:
    ``Page[HostOut]`` and ``class ExitPage(Page[ExitOut])`` both bind ``T``."""
    bound: dict[Any, Any] = {}
    cls = typing.get_origin(kind) or kind
    for base in (*getattr(cls, "__orig_bases__", ()), kind):
        origin = typing.get_origin(base)
        if origin is not None:
            params = getattr(origin, "__parameters__", ())
            bound.update(zip(params, typing.get_args(base), strict=False))
    return bound


class Components:
    """The document's ``components.schemas``: every attrs class once, referred to by name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def of(self, kind: Any, bound: dict[Any, Any] | None = None) -> Schema:
        """The schema of a Python type as cattrs reads or writes it (``bound``: what the type
        variables of a generic class stand for)."""
        if bound and kind in bound:
            kind = bound[kind]
        if kind is Any or kind is object:
            return {}
        if kind in _SCALARS:
            return dict(_SCALARS[kind])
        origin = typing.get_origin(kind)
        args = typing.get_args(kind)
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self.of(arg, bound) for arg in args]}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in _LISTS or kind in _LISTS:
            item = args[0] if args else Any  # tuple[str, ...] too
            return {"type": "array", "items": self.of(item, bound)}
        if origin is dict or kind is dict:
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.of(value, bound)}
        if attrs.has(origin or kind):
            return self.ref(kind)
        raise TypeError(f"no JSON Schema for {kind!r}")

    def ref(self, kind: Any) -> Schema:
        name = schema_name(kind)
        if name not in self.schemas:
            self.schemas[name] = {}  # taken first: a class that refers to itself ends here
            self.schemas[name] = self.object_schema(kind)
        return {"$ref": f"#/components/schemas/{name}"}

    def object_schema(self, kind: Any) -> Schema:
        cls = typing.get_origin(kind) or kind
        attrs.resolve_types(cls)
        bound = _type_arguments(kind)
        docs: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if attrs.has(klass):
                docs.update(field_docs(klass))
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            one = self.of(field.type, bound)
            one.update(_bounds(field.validator) if field.validator is not None else {})
            if field.name in docs:
                one["description"] = docs[field.name]
            properties[field.name] = one
            if field.default is attrs.NOTHING:
                required.append(field.name)
        out: Schema = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        out["additionalProperties"] = extra_fields_allowed(cls)
        if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
            out["description"] = inspect.cleandoc(cls.__doc__)
        return out
