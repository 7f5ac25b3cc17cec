"""The curl flows (DESIGN.md section 9): the connect script, bootstrap and entry short links.

``GET /v1/bootstrap/script`` and ``GET /entry/<short_id>`` serve ``web/scripts/connect.sh``
with the server's address filled in. Bootstrap: the user's login password starts a session
(``POST /v1/bootstrap/sessions`` queues a start and answers a task id and a bearer token), the
script follows the task's stages (long-poll), and the handoff gives the ssh parameters, the
proxy's host key as a known_hosts line and a one-time ticket. Entry: the host's SSH password
answers the same parameters at once; the proxy starts the host when ssh connects.

Every answer is JSON, or ``key value`` lines with ``?format=sh`` (what the script reads,
without eval); errors carry the registry code and the script's exit code either way.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
from attrs.validators import ge, le
from quart import Blueprint, Response, g, request

from cloudclaude.core.tls import curl_command
from cloudclaude.domain.sessions import BOOTSTRAP_STEPS
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.hosts import Host
from cloudclaude.model.tasks import Task
from cloudclaude.model.users import User
from cloudclaude.sshproxy.access import Login
from cloudclaude.sshproxy.autostart import start_error
from cloudclaude.sshproxy.hostkey import known_hosts_line
from web.api.common import (
    actor,
    authenticate,
    client_address,
    finite_number,
    read_json,
    services,
    sh_lines,
)
from web.api.contract import Raw, documented
from web.api.queries import ShQuery
from web.api.shapes import BootstrapProgress, BootstrapStarted, Handoff
from web.forwarded import via_proxy

blueprint = Blueprint("api_connect", __name__)

_HOST_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")
_SHORT_ID_RE = re.compile(r"^[a-z0-9]{6,16}$")
MAX_WAIT_S = 20.0
POLL_S = 0.05
SCRIPT = Raw("text/x-shellscript", "the connect script, with this server's address filled in")
LOGIN_ERRORS = ("auth_invalid", "account_disabled", "account_expired", "rate_limited", "auth_busy")
#: A start that failed answers its own code (``start_error``).
START_ERRORS = ("ssh_not_ready", "egress_binding_missing", "host_not_found", "start_failed")


@attrs.frozen(kw_only=True)
class BootstrapForm:
    """Form fields or a JSON object."""

    username: str
    password: str
    #: The box's short id, when the user has more than one.
    host: str | None = None


@attrs.frozen(kw_only=True)
class EntryForm:
    #: The box's SSH password.
    password: str


@attrs.frozen(kw_only=True)
class ProgressQuery(ShQuery):
    #: Only events after this ``seq`` (``last_seq`` of the previous answer).
    after: int = 0
    #: Seconds to wait for news (long-poll), 0..20.
    wait_s: float = attrs.field(default=0.0, validator=[ge(0), le(MAX_WAIT_S)])


def wants_sh() -> bool:
    return request.args.get("format") == "sh"


def answer(fields: list[tuple[str, object]], status: int = 200) -> Response | tuple[Any, int]:
    if wants_sh():
        return Response(sh_lines(fields), status=status, mimetype="text/plain")
    return dict(fields), status


def _quoted(value: str) -> str:
    """A single-quoted sh word (the values are checked first; this is the second fence)."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def server_url() -> str:
    """``web.public_url``, or else the base URL the client used if its host part is a plain
    host name or address."""
    public_url = services().live.current.web.public_url
    if public_url:
        return public_url.rstrip("/")
    host = request.host or ""
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name:
        name, port = host, ""
    if not _HOST_RE.match(name) or (port and not port.isdigit()):
        raise CloudClaudeError("bad_request", "the Host header is not a plain host name")
    return f"{request.scheme}://{host}"


def client_pin() -> str:
    """The public-key pin clients check: the local CA's leaf, when this daemon ends TLS itself
    for this request (through a proxy the client sees the proxy's certificate)."""
    tls = services().tls
    if tls is None or via_proxy(request.scope):
        return ""
    return tls.client_pin


def curl_line(path: str) -> str:
    """The one-liner that runs the script at ``path`` (pinned when there is a pin)."""
    return f"{curl_command(client_pin())} {server_url()}{path} | sh"


def _script(mode: str, short_id: str) -> Response:
    template = resources.files("web").joinpath("scripts/connect.sh").read_text()
    text = (
        template.replace("@SERVER@", _quoted(server_url()))
        .replace("@MODE@", _quoted(mode))
        .replace("@SHORT_ID@", _quoted(short_id))
        .replace("@PIN@", _quoted(client_pin()))
    )
    return Response(text, mimetype="text/x-shellscript")


@blueprint.get("/v1/bootstrap/script")
@documented(auth="public", answers={200: SCRIPT})
async def bootstrap_script() -> Response:
    return _script("bootstrap", "")


@blueprint.get("/entry/<short_id>")
async def entry_script(short_id: str) -> Response:
    if not _SHORT_ID_RE.match(short_id):
        raise CloudClaudeError("host_not_found", "not a short id")
    return _script("entry", short_id)


async def _form() -> dict[str, str]:
    """Form fields (what curl --data-urlencode sends) or a JSON object."""
    if request.mimetype == "application/json":
        # read_json: a body that is not UTF-8 is a 400 (quart's get_json raised: a 500).
        data = await read_json()
        return {str(k): v for k, v in data.items() if isinstance(v, str)}
    form = await request.form
    return {key: form[key] for key in form}


def ssh_target() -> tuple[str, int]:
    settings = services().live.current.ssh
    host = settings.public_host or urlsplit(server_url()).hostname or "localhost"
    return host, settings.public_port or settings.port


async def _handoff(user: User, host: Host) -> Response | tuple[Any, int]:
    svc = services()
    ticket = await svc.tickets.issue(user.id, host.id)
    ssh_host, ssh_port = ssh_target()
    return answer(
        [
            ("host", ssh_host),
            ("port", ssh_port),
            ("user", f"{user.username}+{host.short_id}"),
            ("known_hosts", known_hosts_line(svc.ssh_host_key, ssh_host, ssh_port)),
            ("fingerprint", svc.ssh_host_key.get_fingerprint("sha256")),
            ("ticket", ticket),
            ("expires_in", round(svc.tickets.ttl_s)),
        ]
    )


@blueprint.post("/v1/bootstrap/sessions")
@documented(
    auth="public",
    body=BootstrapForm,
    form=True,
    query=ShQuery,
    sh=True,
    answers={201: BootstrapStarted},
    errors=(*LOGIN_ERRORS, *START_ERRORS, "host_busy", "conflict"),
)
async def bootstrap_session() -> Response | tuple[Any, int]:
    form = await _form()
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        raise CloudClaudeError("auth_invalid", "username and password are needed")
    svc = services()
    # A bootstrap-scoped session: its token does the steps below and nothing else.
    login = await svc.accounts.login(username, password, client_address(), scope="bootstrap")
    g.user = login.user  # from here the request acts as the signed-in user
    short_id = form.get("host") or None
    host = await svc.ssh_access.route(Login(login.user.username, short_id), login.user)
    try:
        task = await svc.hosts.act(
            actor(), host.id, "start", owner=login.user.id, reason="bootstrap"
        )
    except CloudClaudeError as exc:
        active = await svc.hosts.tasks.active_for(host.id)
        if exc.error.slug != "host_busy" or active is None or active.kind != "start":
            raise
        task = active
    fields: list[tuple[str, object]] = [
        ("task_id", task.id),
        ("host_id", host.id),
        ("short_id", host.short_id),
        ("token", login.token),
    ]
    return answer(fields, 201)


async def _own_task(task_id: str) -> tuple[User, Task]:
    """The caller's own start task (anyone else's is not found); a failed one raises its code."""
    user = await authenticate(allowed=BOOTSTRAP_STEPS)
    task = await services().hosts.tasks.get(task_id)
    if task.host_id is None:
        raise CloudClaudeError("not_found", f"no task {task_id!r}")
    try:
        await services().hosts.get(task.host_id, owner=user.id)
    except CloudClaudeError as exc:
        raise CloudClaudeError("not_found", f"no task {task_id!r}") from exc
    _raise_if_failed(task)
    return user, task


def _raise_if_failed(task: Task) -> None:
    if task.status == "failed":
        raise start_error(task.error_code, task.error_message)


def _number_arg(name: str, default: float) -> float:
    return finite_number(str(request.args.get(name, default)), name)


@blueprint.get("/v1/bootstrap/tasks/<task_id>")
@documented(
    auth="bootstrap",
    query=ProgressQuery,
    sh=True,
    answers={200: BootstrapProgress},
    errors=START_ERRORS,
)
async def bootstrap_task(task_id: str) -> Response | tuple[Any, int]:
    """The task's stages after ``after``; waits up to ``wait_s`` for news (long-poll)."""
    _, task = await _own_task(task_id)
    after = int(_number_arg("after", 0))
    wait_s = min(max(_number_arg("wait_s", 0), 0.0), MAX_WAIT_S)
    with trio.move_on_after(wait_s):
        while task.active and not [e for e in task.events if e.seq > after]:
            await trio.sleep(POLL_S)
            task = await services().hosts.tasks.get(task_id)
    _raise_if_failed(task)
    new = [e for e in task.events if e.seq > after]
    fields: list[tuple[str, object]] = [
        ("status", task.status),
        ("progress", task.progress_percent),
        ("last_seq", max([after, *(e.seq for e in new)])),
    ]
    if wants_sh():
        fields += [("event", e.code) for e in new]
    else:
        fields.append(
            ("events", [{"seq": e.seq, "code": e.code, "message": e.message} for e in new])
        )
    return answer(fields)


@blueprint.get("/v1/bootstrap/tasks/<task_id>/handoff")
@documented(
    auth="bootstrap",
    query=ShQuery,
    sh=True,
    answers={200: Handoff},
    errors=(*START_ERRORS, "conflict"),
)
async def bootstrap_handoff(task_id: str) -> Response | tuple[Any, int]:
    user, task = await _own_task(task_id)
    if task.status != "succeeded":
        raise CloudClaudeError("conflict", f"the start task is {task.status}; wait for it")
    assert task.host_id is not None
    host = await services().hosts.get(task.host_id, owner=user.id)
    if host.status != "running":
        raise start_error(host.error_code, f"the host is {host.status}")
    return await _handoff(user, host)


@blueprint.post("/v1/entry/<short_id>/auth")
@documented(
    auth="public",
    body=EntryForm,
    form=True,
    query=ShQuery,
    sh=True,
    answers={200: Handoff},
    errors=(*LOGIN_ERRORS, "host_not_found"),
)
async def entry_auth(short_id: str) -> Response | tuple[Any, int]:
    form = await _form()
    svc = services()
    grant, host = await svc.ssh_access.entry(short_id, form.get("password", ""), client_address())
    return await _handoff(grant.user, host)
