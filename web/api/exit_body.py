"""The body of ``POST``/``PUT /v1/admin/egress-ips`` as an attrs class, for the document.

An exit is one flat object checked per kind by ``cloudclaude.domain.exit_schema`` (which
answers ``exit_invalid`` naming the field), so its field names are taken from there; only the
fields that are not strings are typed here. ``null`` counts as absent.
"""

from __future__ import annotations

from typing import Any

import attrs

from cloudclaude.domain.exit_schema import COMMON, KINDS, SERVER
from cloudclaude.model.exits import ExitKind

#: Fields whose JSON type is not a string.
_TYPES: dict[str, Any] = {
    "kind": ExitKind,
    "port": int,
    "alter_id": int,
    "tls": bool,
    "tls_insecure": bool,
    "udp": bool,
    "expected_resolvers": list[str],
}
_REQUIRED = ("label", "kind")


def _names() -> list[str]:
    names = list(COMMON + SERVER)
    for schema in KINDS.values():
        names += [name for name in schema.fields if name not in names]
    return names


def _field(name: str) -> Any:
    kind = _TYPES.get(name, str)
    if name in _REQUIRED:
        return attrs.field(type=kind)
    return attrs.field(type=kind | None, default=None)


ExitBody: type = attrs.make_class(
    "ExitBody",
    {name: _field(name) for name in _names()},
    frozen=True,
    kw_only=True,
)
ExitBody.__doc__ = (
    "An exit: the common fields, `server` and `port` (all kinds but `direct`) and its kind's"
    " own fields (see `kinds` in `GET /v1/admin/egress-ips`); any other field is refused."
)
