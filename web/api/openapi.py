"""``GET /v1/openapi.json``: the OpenAPI 3.1 document of every ``/v1`` route, built at run time.

The routes come from the app's ``url_map`` (never a list kept by hand); what each one reads and
answers from its ``@documented`` declaration (``web.api.contract``) and the attrs classes it
names (``web.api.schemas``); who may call it from the blueprint's marked guard; its errors from
the registry (``web.api.openapi_errors``). A route without a declaration is listed all the same.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import attrs
from quart import Blueprint, Quart, current_app
from werkzeug.routing import Rule

from cloudclaude import __version__
from web.api import openapi_errors
from web.api.contract import Auth, Operation, Raw, auth_of, documented, operation_of
from web.api.schemas import Components, Schema

blueprint = Blueprint("api_openapi", __name__)
PREFIX = "/v1/"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "`Authorization: Bearer <token>` from `POST /v1/auth/login` (no cookies on /v1,"
            " hence no CSRF). The requirement's roles say who passes: `admin` the admin role,"
            " `bootstrap` also a token from `POST /v1/bootstrap/sessions`; none any signed-in"
            " user."
        ),
    }
}
_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "public": [],
    "user": [{"bearer": []}],
    "admin": [{"bearer": ["admin"]}],
    "bootstrap": [{"bearer": ["bootstrap"]}],
}


def openapi_path(rule: Rule) -> str:
    """``/v1/admin/users/<user_id>`` as ``/v1/admin/users/{user_id}``."""
    return _ARGUMENT.sub(r"{\1}", rule.rule)


def route_auth(app: Quart, rule: Rule, view: Callable[..., Any], op: Operation | None) -> Auth:
    """Who may call the route: as declared, else the handler's or its blueprint's guard."""
    if op is not None and op.auth is not None:
        return op.auth
    found = auth_of(view)
    if found is not None:
        return found
    blueprint_name = rule.endpoint.rpartition(".")[0]
    for guard in app.before_request_funcs.get(blueprint_name, []):
        found = auth_of(guard)
        if found is not None:
            return found
    return "public"


def _names_an_id(kind: Any) -> bool:
    return kind is uuid.UUID or uuid.UUID in typing.get_args(kind)


def _without_none(kind: Any) -> Any:
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(kind) else kind


def _parameters(rule: Rule, op: Operation | None, components: Components) -> list[Schema]:
    params: list[Schema] = []
    for name in _ARGUMENT.findall(rule.rule):
        declared = op.path.get(name) if op is not None else None
        if declared is not None:
            schema = components.of(declared)
        elif name.endswith("_id"):
            schema = {"type": "string", "format": "uuid"}
        else:
            schema = {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op is None or op.query is None:
        return params
    query = components.object_schema(op.query)
    required = set(query.get("required", []))
    fields = attrs.fields_dict(op.query)
    for name, schema in query["properties"].items():
        description = schema.pop("description", None)
        if "anyOf" in schema:  # ``X | None = None``: a query parameter is absent, never null
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            schema = {**components.of(_without_none(fields[name].type)), **rest}
        param: Schema = {"name": name, "in": "query", "required": name in required}
        param["schema"] = schema
        if description:
            param["description"] = description
        params.append(param)
    return params


def _content(shape: Any, components: Components, *, sh: bool) -> dict[str, Any]:
    if isinstance(shape, Raw):
        return {shape.mimetype: {"schema": {"type": "string", "description": shape.description}}}
    content: dict[str, Any] = {"application/json": {"schema": components.of(shape)}}
    if sh:
        content["text/plain"] = {"schema": {"type": "string", "description": "key value lines"}}
    return content


def _error_slugs(op: Operation | None, auth: Auth, rule: Rule, method: str) -> list[str]:
    if op is None:
        return list(openapi_errors.every_slug())
    slugs = [*openapi_errors.ALWAYS, *op.errors]
    if auth != "public":
        slugs += openapi_errors.SIGNED_IN
    if rule.arguments:
        slugs += openapi_errors.WITH_PATH
    if op.query is not None:
        slugs += openapi_errors.WITH_QUERY
        if any(_names_an_id(f.type) for f in attrs.fields(attrs.resolve_types(op.query))):
            slugs += openapi_errors.WITH_PATH  # a filter by an id that is not there
    if op.body is not None or method in ("POST", "PUT", "PATCH"):
        slugs += openapi_errors.WITH_BODY
    return slugs


def _summary(view: Callable[..., Any], op: Operation | None) -> tuple[str, str]:
    doc = inspect.getdoc(view) or ""
    first = doc.split("\n\n")[0].replace("\n", " ")
    summary = (op.summary if op is not None else "") or first or view.__name__.replace("_", " ")
    return summary, doc


def operation(
    app: Quart, rule: Rule, method: str, components: Components, operation_id: str
) -> Schema:
    """One operation of the document."""
    view = app.view_functions[rule.endpoint]
    op = operation_of(view)
    auth = route_auth(app, rule, view, op)
    summary, doc = _summary(view, op)
    out: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [rule.endpoint.rpartition(".")[0] or "app"],
        "security": _SECURITY[auth],
        "x-auth": auth,
    }
    if doc and doc != summary:
        out["description"] = doc
    params = _parameters(rule, op, components)
    if params:
        out["parameters"] = params
    sh = op is not None and op.sh
    if op is not None and op.body is not None:
        content = {"application/json": {"schema": components.of(op.body)}}
        if op.form:
            content["application/x-www-form-urlencoded"] = content["application/json"]
        out["requestBody"] = {"required": not op.body_optional, "content": content}
    responses: dict[str, Any] = {}
    answers = op.answers if op is not None else {200: dict[str, Any]}
    for status, shape in answers.items():
        answer: Schema = {"description": HTTPStatus(status).phrase}
        if shape is not None:
            answer["content"] = _content(shape, components, sh=sh)
        responses[str(status)] = answer
    errors = openapi_errors.error_responses(_error_slugs(op, auth, rule, method), sh=sh)
    responses.update({k: v for k, v in errors.items() if k not in responses})
    out["responses"] = dict(sorted(responses.items()))
    if op is None:
        out["x-undeclared"] = True
    return out


def _tags(app: Quart, used: set[str]) -> list[Schema]:
    tags = []
    for name in sorted(used):
        found = app.blueprints.get(name)
        module = sys.modules.get(found.import_name) if found is not None else None
        doc = inspect.getdoc(module) if module is not None else None
        tag: Schema = {"name": name}
        if doc:
            tag["description"] = doc
        tags.append(tag)
    return tags


def build(app: Quart) -> Schema:
    """The whole document for ``app``'s ``/v1`` routes."""
    components = Components()
    paths: dict[str, dict[str, Schema]] = {}
    used_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX):
            continue
        methods = sorted((rule.methods or set()) - _SKIPPED_METHODS)
        for method in methods:
            operation_id = rule.endpoint if len(methods) == 1 else f"{rule.endpoint}.{method}"
            while operation_id in used_ids:
                operation_id += "_"
            used_ids.add(operation_id)
            item = paths.setdefault(openapi_path(rule), {})
            item[method.lower()] = operation(app, rule, method, components, operation_id)
    schemas = {**components.schemas, **openapi_errors.error_schemas()}
    tags = {tag for item in paths.values() for op in item.values() for tag in op["tags"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cloudclaude",
            "version": __version__,
            "description": (
                "The JSON API of a cloudclaude server. Every failure answers"
                ' `{"error": {code, slug, message, cause, fix}}` with a registry code; lists'
                " page with `limit` and `offset` and answer `{items, total, limit, offset}`."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": _tags(app, tags),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def document(app: Quart) -> Schema:
    """``build(app)`` once per app (the routes do not change while it runs)."""
    cached: Schema | None = app.extensions.get("cloudclaude_openapi")
    if cached is None:
        cached = app.extensions["cloudclaude_openapi"] = build(app)
    return cached


@blueprint.get("/v1/openapi.json")
@documented(auth="public", answers={200: dict[str, Any]})
async def openapi_json() -> Schema:
    """This document (OpenAPI 3.1)."""
    return document(current_app)
