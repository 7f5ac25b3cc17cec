"""One box connection to its credentials endpoint: HTTP/1.1 requests in, the upstream's answers out.

Each request is decided on its own:

- the placeholder Claude Code in the box sends (``ANTHROPIC_AUTH_TOKEN``; or no credential at
  all) gets the user's real key put in (``x-api-key``); without a key, or past the user's
  budget, it is answered here, in the Messages API's error format that Claude Code shows;
- any other credential (the user's own claude.ai login, their own key) passes untouched;
- only ``/v1/...`` paths are forwarded.

Answers stream through unbuffered (server-sent events included) while their token counts are
read on the way; one usage row per Messages request is recorded once the answer has ended.
Every read from the box is bounded (head size, body size, idle time).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import attrs
import h11
import structlog
import trio

from cloudclaude.domain.errors import DatabaseUnavailable
from cloudclaude.errors import CloudClaudeError, auth, net, state, system
from cloudclaude.errors.base import ErrorCode
from cloudclaude.llmgate.upstream import Upstream, UpstreamConnection, UpstreamError
from cloudclaude.llmgate.usage_parse import Counts, UsageReader
from cloudclaude.model.credentials import BudgetState, ResolvedKey, UsageRow

log = structlog.get_logger(component="llm_gateway")

#: What Claude Code in every box sends as its key (``ANTHROPIC_AUTH_TOKEN``): not a secret.
PLACEHOLDER = "cloudclaude-gateway"
MAX_HEAD_BYTES = 64 * 1024
#: The Messages API takes requests up to 32 MB; images and PDFs ride in them base64-encoded.
MAX_BODY_BYTES = 48 * 1024 * 1024
IDLE_S = 120.0
READ_CHUNK = 64 * 1024
#: The longest the upstream may stay silent (a long answer that is not streamed comes whole).
ANSWER_WAIT_S = 600.0
#: Headers that describe one hop, never forwarded either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key"})
#: The Messages API's error types, by status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
}


@attrs.frozen(kw_only=True)
class Decision:
    """How one request goes out: with this key, passed through, or refused here."""

    key: ResolvedKey | None = None
    passthrough: bool = False
    refusal: tuple[int, str, str] | None = None  # status, error type, message


class Policy(Protocol):
    """What the forwarder asks the domain about a request of ``host_id``'s box."""

    async def decide(
        self, host_id: uuid.UUID, own_credential: bool
    ) -> tuple[uuid.UUID | None, Decision]: ...

    async def record(self, row: UsageRow) -> None: ...


Observe = Callable[[str, str, Counts], None]


@attrs.define(kw_only=True)
class HostLink:
    """Everything one host's connections share."""

    host_id: uuid.UUID
    upstream: Upstream
    policy: Policy
    observe: Observe


class BoxGone(Exception):
    """The box closed or broke the connection, or sent something that ends it."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


class _Connection:
    def __init__(self, stream: trio.abc.Stream, link: HostLink) -> None:
        self.stream = stream
        self.link = link
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise BoxGone(f"bad request: {exc}") from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]  # NEED_DATA is handled here
            try:
                data = await self.stream.receive_some(READ_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise BoxGone(str(exc)) from exc
            self.h11.receive_data(bytes(data))

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise BoxGone(str(exc)) from exc

    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives, at most ``MAX_BODY_BYTES``."""
        size = 0
        while True:
            with trio.fail_after(IDLE_S):
                event = await self.next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY_BYTES:
                    raise BoxGone(f"the body is over {MAX_BODY_BYTES:,} bytes", too_large=True)
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise BoxGone(f"unexpected {type(event).__name__} in a request body")

    async def answer_error(self, status: int, kind: str, message: str) -> None:
        """An error in the Messages API's format; the connection closes after it."""
        body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        await self.send(h11.Response(status_code=status, headers=headers))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())


async def serve_connection(stream: trio.abc.Stream, link: HostLink) -> None:
    """Answer the requests of one box connection until it closes, idles or misbehaves."""
    conn = _Connection(stream, link)
    try:
        while True:
            with trio.move_on_after(IDLE_S):
                event = await conn.next_event()
                if isinstance(event, h11.Request):
                    await _one_request(conn, event)
                    if (
                        conn.h11.our_state is h11.MUST_CLOSE
                        or conn.h11.their_state is h11.MUST_CLOSE
                    ):
                        return
                    conn.h11.start_next_cycle()
                    continue
                return  # ConnectionClosed, or PAUSED after a close
            return  # idle
    except BoxGone as exc:
        log.debug("llm_connection_ended", host_id=str(link.host_id), reason=str(exc))
        if conn.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with trio.move_on_after(1), contextlib.suppress(BoxGone, h11.LocalProtocolError):
                code = system.BODY_TOO_LARGE if exc.too_large else system.BAD_REQUEST
                await conn.answer_error(*refusal(code, str(exc)))
    except h11.LocalProtocolError as exc:
        log.warning("llm_connection_broken", host_id=str(link.host_id), error=str(exc))
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _one_request(conn: _Connection, request: h11.Request) -> None:
    link = conn.link
    target = request.target.decode("ascii", "replace")
    method = request.method.decode("ascii", "replace")
    if not target.startswith("/v1/") or "#" in target:
        await conn.answer_error(*refusal(state.NOT_FOUND, f"{target[:200]!r} is not an API path"))
        return
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers]
    own = _own_credential(headers)
    try:
        user_id, decision = await link.policy.decide(link.host_id, own)
    except Exception as exc:  # the database, a key that does not open: the box gets a code
        log.exception("llm_policy_failed", host_id=str(link.host_id))
        code = exc.error if isinstance(exc, CloudClaudeError) else system.INTERNAL_ERROR
        if isinstance(exc, DatabaseUnavailable):
            code = system.DATABASE_UNAVAILABLE
        await conn.answer_error(*refusal(code))
        return
    if decision.refusal is not None:
        status, kind, message = decision.refusal
        link.observe("", "refused", Counts())
        await conn.answer_error(status, kind, message)
        return
    out = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
    if not decision.passthrough:
        out = [(k, v) for k, v in out if k not in CREDENTIAL_HEADERS]
        assert decision.key is not None
        out.append(("x-api-key", decision.key.secret))
    # Token counts are read from the answer: ask for it uncompressed.
    out = [(k, v) for k, v in out if k != "accept-encoding"] + [("accept-encoding", "identity")]
    usage = _Usage(link, user_id, decision, counted=method == "POST" and _is_messages(target))
    out = [("host", link.upstream.target.host_header), *out]
    if any(k == "transfer-encoding" for k, _ in headers) and all(
        k != "content-length" for k, _ in out
    ):
        out.append(("transfer-encoding", "chunked"))  # the box's body comes in chunks
    try:
        try:
            upstream = await link.upstream.acquire()
        except UpstreamError as exc:
            link.observe("", "upstream_unreachable", Counts())
            log.warning("llm_upstream_failed", host_id=str(link.host_id), error=str(exc))
            await usage.done(502, Counts())
            await conn.answer_error(*refusal(net.LLM_UPSTREAM_UNREACHABLE, str(exc)))
            return
        try:
            await _exchange(conn, upstream, request, target, out, usage)
        except (UpstreamError, trio.TooSlowError) as exc:
            log.warning("llm_upstream_broke", host_id=str(link.host_id), error=str(exc))
            if conn.h11.our_state is h11.SEND_RESPONSE:
                await usage.done(502, Counts())
                await conn.answer_error(*refusal(net.LLM_UPSTREAM_UNREACHABLE, str(exc)))
            else:
                raise BoxGone(str(exc)) from exc  # mid-answer: the box sees the cut
        finally:
            await link.upstream.release(upstream)
    finally:
        with trio.CancelScope(shield=True):
            await usage.done(0, Counts())  # an answer cut short: counted as far as it went


async def _exchange(
    conn: _Connection,
    upstream: UpstreamConnection,
    request: h11.Request,
    target: str,
    headers: list[tuple[str, str]],
    usage: _Usage,
) -> None:
    """The request (its body streamed from the box), then the answer streamed back."""
    await upstream.send(h11.Request(method=request.method, target=target, headers=headers))
    async for chunk in conn.body():
        await upstream.send(h11.Data(data=chunk))
    await upstream.send(h11.EndOfMessage())
    with trio.fail_after(ANSWER_WAIT_S):
        response = await upstream.next_event()
    while isinstance(response, h11.InformationalResponse):
        with trio.fail_after(ANSWER_WAIT_S):
            response = await upstream.next_event()
    if not isinstance(response, h11.Response):
        raise UpstreamError(f"the upstream answered {type(response).__name__}")
    await _relay(conn, upstream, response, usage)


class _Usage:
    """One request's usage row, recorded once: before the answer's last byte when it ends
    (so the next request's budget check sees it), or as far as it went when it is cut short."""

    def __init__(
        self, link: HostLink, user_id: uuid.UUID | None, decision: Decision, *, counted: bool
    ) -> None:
        self.link, self.user_id, self.decision = link, user_id, decision
        self.pending = counted and user_id is not None
        self.started = time.monotonic()
        self.status = 0
        self.reader: UsageReader | None = None

    async def done(self, status: int, counts: Counts) -> None:
        if not self.pending or self.user_id is None:
            return
        self.pending = False
        if self.reader is not None:
            counts = self.reader.finish()
        key = self.decision.key
        row = UsageRow(
            user_id=self.user_id,
            host_id=self.link.host_id,
            credential_id=None if key is None else key.credential_id,
            kind="own" if self.decision.passthrough else (key.kind if key else "team"),
            model=counts.model or "unknown",
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            cache_creation_tokens=counts.cache_creation_tokens,
            cache_read_tokens=counts.cache_read_tokens,
            status=status or self.status,
            latency_ms=round((time.monotonic() - self.started) * 1000),
        )
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await _record(self.link, row)


async def _relay(
    conn: _Connection, upstream: UpstreamConnection, response: h11.Response, usage: _Usage
) -> None:
    """The answer to the box as it arrives, its token counts read on the way."""
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
    content_type = next((v for k, v in raw if k.lower() == "content-type"), "")
    reader = usage.reader = UsageReader(content_type)
    usage.status = status = response.status_code
    headers = [(k, v) for k, v in raw if k.lower() not in HOP_BY_HOP]
    await conn.send(h11.Response(status_code=status, headers=headers))
    while True:
        with trio.fail_after(ANSWER_WAIT_S):
            event = await upstream.next_event()
        if isinstance(event, h11.Data):
            reader.feed(bytes(event.data))
            await conn.send(h11.Data(data=event.data))
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise UpstreamError(f"the upstream sent {type(event).__name__} in an answer")
    counts = reader.finish()
    conn.link.observe(counts.model, "ok" if status < 400 else f"status_{status // 100}xx", counts)
    await usage.done(status, counts)
    await conn.send(h11.EndOfMessage())


async def _record(link: HostLink, row: UsageRow) -> None:
    try:
        await link.policy.record(row)
    except Exception:
        log.exception("llm_usage_not_recorded", host_id=str(link.host_id))


def _own_credential(headers: list[tuple[str, str]]) -> bool:
    """True when the box sent a credential of its own (not the placeholder, not nothing)."""
    for name, value in headers:
        if name == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or token.strip() != PLACEHOLDER:
                return True
        elif name == "x-api-key" and value.strip() != PLACEHOLDER:
            return True
    return False


def _is_messages(target: str) -> bool:
    path = target.split("?", 1)[0]
    return path == "/v1/messages" or (
        path.startswith("/v1/messages/") and not path.startswith("/v1/messages/count_tokens")
    )


def refusal(code: ErrorCode, detail: str = "", page: str = "") -> tuple[int, str, str]:
    """A refusal as the box sees it: the registry's code, message and what to do (``page``:
    the user's page, named in full where the fix says ``/me``)."""
    fix = code.fix.replace("/me", page) if page else code.fix
    message = code.message.rstrip(".") + (f": {detail}" if detail else "") + f". {fix}"
    return (
        code.http_status,
        ERROR_TYPES.get(code.http_status, "api_error"),
        f"{code.code} {message}",
    )


def budget_refusal(budget: BudgetState) -> tuple[int, str, str]:
    """The answer past a user's monthly budget: how much, and when it resets.

    403, not 429: Claude Code retries 429s for minutes before it shows them."""
    when = budget.resets_at.strftime("%Y-%m-%d %H:%M UTC")
    used, limit = budget.used_tokens, budget.limit_tokens or 0
    return refusal(auth.LLM_BUDGET_SPENT, f"{used:,} of {limit:,} tokens used; it resets on {when}")
