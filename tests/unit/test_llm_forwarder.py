"""The credentials endpoint's forwarding, against a fake policy and a fake upstream (an
HTTP/1.1 server on loopback): the real key goes in only for the placeholder, the box's own
credential passes untouched, refusals come in the API's error format, answers stream through
with their counts."""

from __future__ import annotations

import datetime as dt
import functools
import json
import ssl
import uuid
from typing import Any

import attrs
import h11
import trio
import trio.testing

from cloudclaude.domain.errors import DatabaseUnavailable
from cloudclaude.errors import CloudClaudeError
from cloudclaude.llmgate.forwarder import (
    PLACEHOLDER,
    Decision,
    HostLink,
    budget_refusal,
    serve_connection,
)
from cloudclaude.llmgate.upstream import Target, Upstream
from cloudclaude.model.credentials import BudgetState, ResolvedKey, UsageRow

HOST = uuid.uuid4()
USER = uuid.uuid4()
KEY = ResolvedKey(credential_id=uuid.uuid4(), name="team", kind="team", secret="sk-ant-real-key-1")
SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x",'
    b'"usage":{"input_tokens":11,"output_tokens":1}}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":6}}\n\n'
)


@attrs.define
class FakePolicy:
    decision: Decision = attrs.field(factory=lambda: Decision(key=KEY))
    rows: list[UsageRow] = attrs.field(factory=list)
    asked: list[bool] = attrs.field(factory=list)
    fail: Exception | None = None

    async def decide(self, host_id: uuid.UUID, own: bool) -> tuple[uuid.UUID | None, Decision]:
        assert host_id == HOST
        if self.fail is not None:
            raise self.fail
        self.asked.append(own)
        return USER, Decision(passthrough=True) if own else self.decision

    async def record(self, row: UsageRow) -> None:
        self.rows.append(row)


@attrs.define
class Seen:
    """One request as the fake upstream received it."""

    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class FakeUpstream:
    """An HTTP/1.1 server on loopback answering every request with ``SSE``, streamed."""

    seen: list[Seen] = attrs.field(factory=list)
    port: int = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        body = bytearray()
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert request is not None
        self.seen.append(
            Seen(
                target=request.target.decode(),
                headers={k.decode(): v.decode() for k, v in request.headers},
                body=bytes(body),
            )
        )
        await stream.send_all(
            conn.send(
                h11.Response(status_code=200, headers=[("content-type", "text/event-stream")])
            )
        )
        for at in range(0, len(SSE), 40):
            await stream.send_all(conn.send(h11.Data(data=SSE[at : at + 40])))
        await stream.send_all(conn.send(h11.EndOfMessage()))
        await stream.aclose()


async def exchange(policy: FakePolicy, upstream: FakeUpstream, raw: bytes) -> bytes:
    """Send ``raw`` over a fresh box connection; return everything the endpoint answered."""
    async with trio.open_nursery() as servers:
        serve = functools.partial(trio.serve_tcp, upstream.handle, 0, host="127.0.0.1")
        [listener] = await servers.start(serve)
        port = listener.socket.getsockname()[1]
        target = Target(tls=False, host="127.0.0.1", port=port)
        link = HostLink(
            host_id=HOST,
            upstream=Upstream(target, None, ssl.create_default_context()),
            policy=policy,
            observe=lambda model, outcome, counts: None,
        )
        box, server = trio.testing.memory_stream_pair()
        answer = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_connection, server, link)
            await box.send_all(raw)
            while data := await box.receive_some(65536):
                answer += data
        await link.upstream.aclose()
        servers.cancel_scope.cancel()
    return bytes(answer)


def dechunk(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += body[:size]
        body = body[size + 2 :]


def request(headers: dict[str, str], body: bytes = b'{"model":"m","stream":true}') -> bytes:
    lines = ["POST /v1/messages HTTP/1.1", "Host: gw", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_the_placeholder_is_swapped_for_the_real_key_and_the_answer_streams_back() -> None:
    policy, upstream = FakePolicy(), FakeUpstream()
    answer = await exchange(policy, upstream, request({"Authorization": f"Bearer {PLACEHOLDER}"}))
    sent = upstream.seen[0]
    assert sent.target == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY.secret
    assert "authorization" not in sent.headers
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.body == b'{"model":"m","stream":true}'
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert dechunk(answer.partition(b"\r\n\r\n")[2]) == SSE
    [row] = policy.rows
    assert (row.user_id, row.host_id, row.credential_id) == (USER, HOST, KEY.credential_id)
    assert (row.kind, row.model, row.input_tokens, row.output_tokens) == ("team", "claude-x", 11, 6)
    assert row.status == 200 and policy.asked == [False]


async def test_no_credential_at_all_counts_as_the_placeholder() -> None:
    policy, upstream = FakePolicy(), FakeUpstream()
    await exchange(policy, upstream, request({}))
    assert upstream.seen[0].headers["x-api-key"] == KEY.secret and policy.asked == [False]


async def test_the_boxs_own_credential_passes_untouched() -> None:
    policy, upstream = FakePolicy(), FakeUpstream()
    await exchange(policy, upstream, request({"Authorization": "Bearer sk-ant-oat01-mine"}))
    sent = upstream.seen[0]
    assert sent.headers["authorization"] == "Bearer sk-ant-oat01-mine"
    assert "x-api-key" not in sent.headers
    assert policy.asked == [True] and policy.rows[0].kind == "own"
    assert policy.rows[0].credential_id is None


async def test_a_refusal_is_an_api_error_and_nothing_goes_upstream() -> None:
    budget = BudgetState(
        limit_tokens=1000, used_tokens=1200, resets_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    )
    policy = FakePolicy(decision=Decision(refusal=budget_refusal(budget)))
    upstream = FakeUpstream()
    answer = await exchange(policy, upstream, request({}))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ")
    error: dict[str, Any] = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "permission_error"
    assert error["error"]["message"].startswith("AUTH_021 Your monthly token budget is used up")
    assert "1,200 of 1,000" in error["error"]["message"]
    assert "2026-12-01 00:00 UTC" in error["error"]["message"]
    assert upstream.seen == [] and policy.rows == []


async def test_only_api_paths_are_forwarded() -> None:
    policy, upstream = FakePolicy(), FakeUpstream()
    raw = b"GET /etc/passwd HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
    answer = await exchange(policy, upstream, raw)
    assert answer.startswith(b"HTTP/1.1 404 ") and upstream.seen == []


async def test_a_malformed_request_gets_a_400_and_the_connection_closes() -> None:
    policy, upstream = FakePolicy(), FakeUpstream()
    answer = await exchange(policy, upstream, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and upstream.seen == []


async def test_a_lookup_that_fails_is_answered_with_its_code_not_a_crash() -> None:
    for failure, code in (
        (DatabaseUnavailable("gone"), "SYSTEM_002"),
        (CloudClaudeError("sealed_secret_unreadable"), "STATE_015"),
        (RuntimeError("bug"), "SYSTEM_001"),
    ):
        upstream = FakeUpstream()
        answer = await exchange(FakePolicy(fail=failure), upstream, request({}))
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["error"]["message"].startswith(code), body
        assert upstream.seen == []
