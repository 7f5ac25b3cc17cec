"""Control-socket messages: one request frame per connection, then one or more reply frames.

Requests are frozen attrs classes tagged by ``"op"``; the codec is one cattrs converter with
``forbid_extra_keys``, so an unknown op or field is a ``ProtocolError``, not a crash.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from agent.protocol import codec
from cloudclaude.core.codec import strict_converter


class ProtocolError(Exception):
    """A frame that is not JSON or not a known message."""


@attrs.frozen(kw_only=True)
class Status:
    pass


@attrs.frozen(kw_only=True)
class UsersList:
    search: str | None = None
    limit: int = 50
    offset: int = 0


@attrs.frozen(kw_only=True)
class UsersAdd:
    username: str
    role: str = "user"
    password: str | None = None
    expires_at: str | None = None
    max_hosts: int = 1


@attrs.frozen(kw_only=True)
class UsersShow:
    username: str


@attrs.frozen(kw_only=True)
class UsersDisable:
    username: str


@attrs.frozen(kw_only=True)
class UsersEnable:
    username: str


@attrs.frozen(kw_only=True)
class UsersExpire:
    """Set the expiry: an ISO date or date-time, ``now``, or ``never`` to clear it."""

    username: str
    expires_at: str = "now"


@attrs.frozen(kw_only=True)
class UsersPasswd:
    username: str
    password: str | None = None


@attrs.frozen(kw_only=True)
class UsersDelete:
    username: str


@attrs.frozen(kw_only=True)
class AuditTail:
    limit: int = 20
    follow: bool = False


@attrs.frozen(kw_only=True)
class KeysRotate:
    pass


@attrs.frozen(kw_only=True)
class Reload:
    pass


@attrs.frozen(kw_only=True)
class HostsList:
    username: str | None = None
    status: str | None = None
    limit: int = 50
    offset: int = 0


@attrs.frozen(kw_only=True)
class HostsShow:
    """``host`` is a host id or a short id."""

    host: str


@attrs.frozen(kw_only=True)
class HostsAction:
    host: str
    action: Literal["start", "stop", "rebuild", "delete", "verify_egress"]
    purge: bool = False


@attrs.frozen(kw_only=True)
class TasksList:
    status: str | None = None
    host: str | None = None
    limit: int = 50
    offset: int = 0


@attrs.frozen(kw_only=True)
class TasksShow:
    task: str


@attrs.frozen(kw_only=True)
class TasksCancel:
    task: str


@attrs.frozen(kw_only=True)
class ExitsList:
    limit: int = 50
    offset: int = 0


@attrs.frozen(kw_only=True)
class ExitsShow:
    """``exit`` is an exit id or label."""

    exit: str


@attrs.frozen(kw_only=True)
class ExitsCreate:
    """``fields``: the exit as the API takes it (checked per kind by the daemon)."""

    fields: dict[str, Any]


@attrs.frozen(kw_only=True)
class ExitsUpdate:
    """Change only the given ``fields`` (``null`` clears one; a new kind starts afresh)."""

    exit: str
    fields: dict[str, Any]


@attrs.frozen(kw_only=True)
class ExitsDelete:
    exit: str


@attrs.frozen(kw_only=True)
class ExitsTest:
    exit: str


@attrs.frozen(kw_only=True)
class ExitsBind:
    host: str
    exit: str


@attrs.frozen(kw_only=True)
class ExitsUnbind:
    host: str


Request = (
    Status
    | UsersList
    | UsersAdd
    | UsersShow
    | UsersDisable
    | UsersEnable
    | UsersExpire
    | UsersPasswd
    | UsersDelete
    | AuditTail
    | KeysRotate
    | Reload
    | HostsList
    | HostsShow
    | HostsAction
    | TasksList
    | TasksShow
    | TasksCancel
    | ExitsList
    | ExitsShow
    | ExitsCreate
    | ExitsUpdate
    | ExitsDelete
    | ExitsTest
    | ExitsBind
    | ExitsUnbind
)

OPS: dict[type[Any], str] = {
    Status: "status",
    UsersList: "users.list",
    UsersAdd: "users.add",
    UsersShow: "users.show",
    UsersDisable: "users.disable",
    UsersEnable: "users.enable",
    UsersExpire: "users.expire",
    UsersPasswd: "users.passwd",
    UsersDelete: "users.delete",
    AuditTail: "audit.tail",
    KeysRotate: "keys.rotate",
    Reload: "reload",
    HostsList: "hosts.list",
    HostsShow: "hosts.show",
    HostsAction: "hosts.action",
    TasksList: "tasks.list",
    TasksShow: "tasks.show",
    TasksCancel: "tasks.cancel",
    ExitsList: "exits.list",
    ExitsShow: "exits.show",
    ExitsCreate: "exits.create",
    ExitsUpdate: "exits.update",
    ExitsDelete: "exits.delete",
    ExitsTest: "exits.test",
    ExitsBind: "exits.bind",
    ExitsUnbind: "exits.unbind",
}


@attrs.frozen(kw_only=True)
class Reply:
    """``ok`` carries ``data``; ``error`` the registry body; ``event`` one streamed item."""

    kind: Literal["ok", "error", "event"]
    data: Any = None
    error: dict[str, Any] | None = None


converter = strict_converter()
configure_tagged_union(Request, converter, tag_generator=lambda cls: OPS[cls], tag_name="op")


def encode_request(request: Request) -> bytes:
    return json.dumps(converter.unstructure(request, Request)).encode()


def decode_request(body: bytes) -> Request:
    try:
        request: Request = codec.decode(converter, body, Request)
    except codec.DecodeError as exc:
        raise ProtocolError(str(exc)) from exc
    return request


def encode_reply(reply: Reply) -> bytes:
    return json.dumps(attrs.asdict(reply)).encode()


def decode_reply(body: bytes) -> Reply:
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("reply is not a JSON object")
        return converter.structure(data, Reply)
    except (ValueError, TypeError, UnicodeDecodeError, cattrs.BaseValidationError) as exc:
        raise ProtocolError(f"malformed reply from the daemon: {exc}") from exc
