"""``/docs/api``: the API reference, rendered on the server from ``/v1/openapi.json``.

A plain page (no script, nothing from a CDN) that anyone may read: the same document the API
serves, as lists of operations, parameters, bodies and error codes, and the shapes they name.
Signed in, the page shows the usual navigation too.
"""

from __future__ import annotations

from typing import Any

import attrs
from quart import Blueprint, current_app

from cloudclaude.errors import REGISTRY, ErrorCode
from web.api.openapi import document
from web.pages.render import render
from web.pages.session import session_user

blueprint = Blueprint("pages_docs", __name__, url_prefix="/docs")
Schema = dict[str, Any]
_WHO = {
    "public": "anyone",
    "user": "any signed-in user",
    "admin": "admins",
    "bootstrap": "signed in, or a bootstrap token",
}


@attrs.frozen
class Field:
    name: str
    type: str
    required: bool
    description: str


@attrs.frozen
class Answer:
    status: str
    description: str
    media: list[tuple[str, str]]
    codes: list[str]


@attrs.frozen
class OperationView:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    who: str
    params: list[Field]
    body: list[tuple[str, str]]
    answers: list[Answer]


def type_text(schema: Schema) -> str:
    """A schema in a few words: ``HostOut``, ``list of string``, ``string (uuid) or null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "anyOf" in schema:
        return " or ".join(type_text(one) for one in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_text(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {type_text(schema['additionalProperties'])}"
    if kind is None:
        return "any"
    text = str(kind)
    keys = ("minimum", "maximum", "maxLength")
    bounds = [f"{key} {schema[key]}" for key in keys if key in schema]
    if "format" in schema:
        bounds.insert(0, str(schema["format"]))
    return f"{text} ({', '.join(bounds)})" if bounds else text


def fields_of(schema: Schema) -> list[Field]:
    required = set(schema.get("required", []))
    return [
        Field(name, type_text(one), name in required, str(one.get("description", "")))
        for name, one in schema.get("properties", {}).items()
    ]


def _operation(method: str, path: str, op: Schema) -> OperationView:
    params = [
        Field(
            f"{p['name']} ({p['in']})",
            type_text(p["schema"]),
            bool(p.get("required")),
            str(p.get("description", "")),
        )
        for p in op.get("parameters", [])
    ]
    body = [
        (media, type_text(one["schema"]))
        for media, one in op.get("requestBody", {}).get("content", {}).items()
    ]
    answers = [
        Answer(
            status,
            str(answer["description"]),
            [(media, type_text(one["schema"])) for media, one in answer.get("content", {}).items()],
            list(answer.get("x-error-codes", [])),
        )
        for status, answer in op["responses"].items()
    ]
    return OperationView(
        anchor=str(op["operationId"]),
        method=method.upper(),
        path=path,
        summary=str(op.get("summary", "")),
        description=str(op.get("description", "")),
        who=_WHO.get(str(op.get("x-auth")), "anyone"),
        params=params,
        body=body,
        answers=answers,
    )


def grouped(doc: Schema) -> list[tuple[Schema, list[OperationView]]]:
    """The operations under their tags (one per route module), in the document's order."""
    groups: dict[str, list[OperationView]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            groups.setdefault(op["tags"][0], []).append(_operation(method, path, op))
    return [(tag, groups.get(tag["name"], [])) for tag in doc["tags"]]


def shapes(doc: Schema) -> list[tuple[str, str, list[Field]]]:
    """Every named object (not the error bodies: the code table lists those)."""
    return [
        (name, str(schema.get("description", "")), fields_of(schema))
        for name, schema in doc["components"]["schemas"].items()
        if not name.startswith("Error")
    ]


def error_rows() -> list[ErrorCode]:
    return sorted(REGISTRY, key=lambda row: row.code)


@blueprint.get("/api")
async def api_reference() -> str:
    await session_user()  # the navigation when signed in; the page itself is public
    doc = document(current_app)
    return await render(
        "docs/api.html",
        doc=doc,
        groups=grouped(doc),
        shapes=shapes(doc),
        errors=error_rows(),
    )
