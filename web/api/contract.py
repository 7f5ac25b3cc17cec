"""A route's contract, declared once next to its handler: ``@documented(...)``.

The decorator only stores an ``Operation`` on the handler; ``web.api.openapi`` walks the app's
``url_map`` and reads it, so the route list itself is never written down twice. Who may call
a route is read from the blueprint's guard (a ``before_request`` marked with ``@requires``) or
from ``@signed_in``; a route that authenticates inline says so with ``auth=``. A route without
a declaration is still in the document, with a generic JSON answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import attrs

F = TypeVar("F", bound=Callable[..., Any])
Auth = Literal["public", "user", "admin", "bootstrap"]
OPERATION_ATTR = "__api_operation__"
AUTH_ATTR = "__api_auth__"


@attrs.frozen
class Raw:
    """An answer that is not JSON: a script, an event stream."""

    mimetype: str
    description: str


#: An answer's body: an attrs class or a type over them (``Page[UserOut]``), a ``Raw``, or
#: None for no body (204).
Shape = Any


@attrs.frozen(kw_only=True)
class Operation:
    summary: str = ""
    #: None: whatever the blueprint's guard or ``@signed_in`` demands.
    auth: Auth | None = None
    #: The attrs class the handler reads with ``read_body`` (a JSON object).
    body: Any = None
    #: The body is optional (no body at all is accepted too).
    body_optional: bool = False
    #: The body may also come as form fields (what ``curl --data-urlencode`` sends).
    form: bool = False
    #: An attrs class whose fields are the query parameters (defaults: optional).
    query: Any = None
    #: Types of path parameters that are not ids (a name ending ``_id`` is a UUID).
    path: Mapping[str, Any] = attrs.field(factory=dict)
    #: Status → body of the successful answers.
    answers: Mapping[int, Shape] = attrs.field(factory=lambda: {200: dict[str, Any]})
    #: Registry slugs this route answers beyond those every route of its kind may.
    errors: tuple[str, ...] = ()
    #: ``?format=sh`` answers ``key value`` lines (what the connect script reads).
    sh: bool = False


def documented(**fields: Any) -> Callable[[F], F]:
    """Declare the handler's contract (see ``Operation``); the handler itself is unchanged."""
    operation = Operation(**fields)

    def mark(fn: F) -> F:
        setattr(fn, OPERATION_ATTR, operation)
        return fn

    return mark


def requires(auth: Auth) -> Callable[[F], F]:
    """Mark a blueprint's ``before_request`` guard (or an auth decorator's wrapper) with who
    passes it, so the document says what the code does."""

    def mark(fn: F) -> F:
        setattr(fn, AUTH_ATTR, auth)
        return fn

    return mark


def operation_of(fn: Callable[..., Any]) -> Operation | None:
    found = getattr(fn, OPERATION_ATTR, None)
    return found if isinstance(found, Operation) else None


def auth_of(fn: Callable[..., Any]) -> Auth | None:
    found = getattr(fn, AUTH_ATTR, None)
    return found if found in ("public", "user", "admin", "bootstrap") else None
