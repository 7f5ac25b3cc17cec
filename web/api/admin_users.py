"""``/v1/admin/users``: list, create, show, update, disable, enable, expiry, password, delete, keys.

The blueprint's ``before_request`` demands an admin token for every route it holds. Resetting
a password and adding an SSH key also need the admin's own ``current_password`` in the body or
a sign-in within ``auth.recent_auth_s``; a reset, a disable, an expiry in the past or a
demotion ends every session of that user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from attrs.validators import ge, le, max_len
from quart import Blueprint, request

from cloudclaude.core.ids import parse_uuid
from cloudclaude.domain.exit_schema import LABEL_RE
from cloudclaude.domain.user_deletion import MAX_WAIT_S
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.users import Role, User, UserStatus
from cloudclaude.model.views import exit_choice_view, key_view, task_view, user_view
from web.api.common import (
    actor,
    authenticate,
    confirm_recent_auth,
    page_body,
    paging,
    read_body,
    read_json,
    services,
    structure,
)
from web.api.contract import documented, requires
from web.api.queries import PageQuery
from web.api.shapes import (
    ExitChoices,
    GeneratedPassword,
    KeyAdded,
    NewUserOut,
    Page,
    SshKeyList,
    UserDeletionPending,
    UserOut,
)

blueprint = Blueprint("api_admin_users", __name__, url_prefix="/v1/admin/users")


@blueprint.before_request
@requires("admin")
async def _admins_only() -> None:
    await authenticate("admin")


@attrs.frozen(kw_only=True)
class CreateUserBody:
    username: str
    role: str = "user"
    password: str | None = None
    expires_at: dt.datetime | None = None
    max_hosts: int = 1


@attrs.frozen(kw_only=True)
class UpdateUserBody:
    role: str | None = None
    max_hosts: int | None = None
    status: str | None = None
    expires_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class ExpiryBody:
    expires_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class PasswordBody:
    password: str | None = None
    #: The admin's own password (recent-auth), unless they signed in a moment ago.
    current_password: str | None = None


@attrs.frozen(kw_only=True)
class AddKeyBody:
    public_key: str
    name: str | None = None
    #: The caller's own password (recent-auth), unless they signed in a moment ago.
    current_password: str | None = None


@attrs.frozen(kw_only=True)
class UserQuery(PageQuery):
    #: Part of the username.
    q: str | None = None
    role: Role | None = None
    status: UserStatus | None = None


@attrs.frozen(kw_only=True)
class DeleteUserQuery:
    #: First queue a delete task for each of the user's live hosts.
    with_hosts: bool = False
    #: Seconds to wait for those tasks, 0..120.
    wait_s: float = attrs.field(default=0.0, validator=[ge(0), le(MAX_WAIT_S)])


@attrs.frozen(kw_only=True)
class ExitRefsBody:
    #: Exit ids or labels allowed besides the default one (at most 100).
    exits: list[str] = attrs.field(validator=max_len(100))


async def _user(user_id: str) -> User:
    return await services().accounts.get(parse_uuid(user_id, "user"))


@blueprint.get("")
@documented(query=UserQuery, answers={200: Page[UserOut]})
async def list_users() -> dict[str, Any]:
    limit, offset = paging()
    page = await services().accounts.list_users(
        limit=limit,
        offset=offset,
        search=request.args.get("q") or None,
        role=request.args.get("role") or None,
        status=request.args.get("status") or None,
    )
    return page_body([user_view(u) for u in page.items], page.total, limit, offset)


@blueprint.post("")
@documented(
    body=CreateUserBody,
    answers={201: NewUserOut},
    errors=("username_taken", "password_invalid"),
)
async def create_user() -> tuple[dict[str, Any], int]:
    body = await read_body(CreateUserBody)
    user, generated = await services().accounts.create(
        actor(),
        username=body.username,
        role=body.role,
        password=body.password,
        expires_at=body.expires_at,
        max_hosts=body.max_hosts,
    )
    out = user_view(user)
    if generated is not None:
        out["password"] = generated
    return out, 201


@blueprint.get("/<user_id>")
@documented(answers={200: UserOut})
async def show_user(user_id: str) -> dict[str, Any]:
    return user_view(await _user(user_id))


@blueprint.patch("/<user_id>")
@documented(body=UpdateUserBody, answers={200: UserOut}, errors=("last_admin",))
async def update_user(user_id: str) -> dict[str, Any]:
    raw = await read_json()
    body = structure(raw, UpdateUserBody)
    user = await services().accounts.update(
        actor(),
        parse_uuid(user_id, "user"),
        role=body.role,
        max_hosts=body.max_hosts,
        status=body.status,
        expires_at=body.expires_at,
        set_expires_at="expires_at" in raw,
    )
    return user_view(user)


@blueprint.post("/<user_id>/disable")
@documented(answers={200: UserOut}, errors=("last_admin",))
async def disable_user(user_id: str) -> dict[str, Any]:
    user = await services().accounts.update(actor(), parse_uuid(user_id, "user"), status="disabled")
    return user_view(user)


@blueprint.post("/<user_id>/enable")
@documented(answers={200: UserOut}, errors=("conflict",))
async def enable_user(user_id: str) -> dict[str, Any]:
    user = await services().accounts.update(actor(), parse_uuid(user_id, "user"), status="active")
    return user_view(user)


@blueprint.post("/<user_id>/expiry")
@documented(body=ExpiryBody, answers={200: UserOut}, errors=("last_admin",))
async def set_expiry(user_id: str) -> dict[str, Any]:
    body = await read_body(ExpiryBody)
    user = await services().accounts.update(
        actor(), parse_uuid(user_id, "user"), expires_at=body.expires_at, set_expires_at=True
    )
    return user_view(user)


@blueprint.post("/<user_id>/rotate-password")
@documented(
    body=PasswordBody,
    body_optional=True,
    answers={200: GeneratedPassword},
    errors=("recent_auth_required", "current_password_wrong", "password_invalid"),
)
async def rotate_password(user_id: str) -> dict[str, Any]:
    raw = await request.get_data()
    body = await read_body(PasswordBody) if raw else PasswordBody()
    await confirm_recent_auth(body.current_password)
    generated = await services().accounts.set_password(
        actor(), parse_uuid(user_id, "user"), body.password
    )
    return {"password": generated} if generated is not None else {}


@blueprint.delete("/<user_id>")
@documented(
    query=DeleteUserQuery,
    answers={204: None, 202: UserDeletionPending},
    errors=("user_has_hosts", "host_busy", "last_admin"),
)
async def delete_user(user_id: str) -> tuple[str | dict[str, Any], int]:
    """204 once the user is gone. ``with_hosts=true`` first queues a delete task for each of
    their live hosts and waits up to ``wait_s`` (0..120, default 0) for them: 202 with the
    tasks while some host is not deleted yet; repeat the same request (no task is queued
    twice) once they ended; a host busy with another task is 409 ``host_busy``. Without it,
    live hosts are 409 ``user_has_hosts``."""
    with_hosts = _flag("with_hosts")
    raw_wait = request.args.get("wait_s", "0")
    try:
        wait_s = float(raw_wait)
    except ValueError as exc:
        raise CloudClaudeError("bad_query", "wait_s must be a number of seconds") from exc
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise CloudClaudeError("bad_query", f"wait_s must be 0..{MAX_WAIT_S:g}")
    done = await services().user_deletion.delete(
        actor(), parse_uuid(user_id, "user"), with_hosts=with_hosts, wait_s=wait_s
    )
    if done.deleted:
        return "", 204
    body = {
        "user_deleted": False,
        "tasks": [task_view(t, with_events=False) for t in done.tasks],
        "next": "repeat this request once the tasks have ended",
    }
    return body, 202


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise CloudClaudeError("bad_query", f"{name} must be true or false")
    return value in ("true", "1")


@blueprint.get("/<user_id>/exits")
@documented(answers={200: ExitChoices})
async def allowed_exits(user_id: str) -> dict[str, Any]:
    """The exits the user may choose for their own boxes (the default one first)."""
    found = await services().self_service.allowed_exits(parse_uuid(user_id, "user"))
    return {"exits": [exit_choice_view(e) for e in found]}


@blueprint.put("/<user_id>/exits")
@documented(body=ExitRefsBody, answers={200: ExitChoices}, errors=("exit_not_found",))
async def set_allowed_exits(user_id: str) -> dict[str, Any]:
    """``{"exits": [id or label, …]}``: the exits allowed besides the default one."""
    body = await read_json()
    refs = body.get("exits")
    # Each an id or a label (LABEL_RE fits both); a NUL reached Postgres as a 500 (schemathesis).
    if (
        not isinstance(refs, list)
        or not all(isinstance(r, str) and LABEL_RE.fullmatch(r) for r in refs)
        or len(refs) > 100
    ):
        raise CloudClaudeError("validation_failed", "exits: a list of exit ids or labels")
    found = await services().self_service.set_allowed_exits(
        actor(), parse_uuid(user_id, "user"), refs
    )
    return {"exits": [exit_choice_view(e) for e in found]}


@blueprint.get("/<user_id>/ssh-keys")
@documented(answers={200: SshKeyList})
async def list_keys(user_id: str) -> dict[str, Any]:
    user = await _user(user_id)
    return {"items": [key_view(k) for k in await services().accounts.list_keys(user.id)]}


@blueprint.post("/<user_id>/ssh-keys")
@documented(
    body=AddKeyBody,
    answers={201: KeyAdded},
    errors=(
        "ssh_key_invalid",
        "ssh_key_duplicate",
        "recent_auth_required",
        "current_password_wrong",
    ),
)
async def add_key(user_id: str) -> tuple[dict[str, Any], int]:
    body = await read_body(AddKeyBody)
    await confirm_recent_auth(body.current_password)
    key = await services().accounts.add_key(
        actor(), parse_uuid(user_id, "user"), body.public_key, body.name
    )
    return {"id": str(key.id), "fingerprint": key.fingerprint}, 201


@blueprint.delete("/<user_id>/ssh-keys/<key_id>")
@documented(answers={204: None})
async def delete_key(user_id: str, key_id: str) -> tuple[str, int]:
    await services().accounts.delete_key(
        actor(), parse_uuid(user_id, "user"), parse_uuid(key_id, "SSH key")
    )
    return "", 204
