"""The agent protocol over in-memory streams: hello, ids, concurrency, progress, bad frames,
and the runtime's checks of wire values before any operation touches the host."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from agent import errors
from agent.config import AgentConfig
from agent.dispatch import Dispatcher, ReportProgress
from agent.protocol import messages as m
from agent.protocol.codec import encode
from agent.protocol.framing import FrameReader, send_frame
from agent.runtime import Runtime
from agent.server import Connection
from cloudclaude.agent_client.client import AgentClient, AgentError, embedded
from cloudclaude.errors import by_code


class Raw:
    """A hand-driven client end, for sending what a real client never would."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.reader = FrameReader(stream)

    async def send(self, body: bytes) -> None:
        await send_frame(self.stream, body)

    async def send_message(self, message: m.Message) -> None:
        await self.send(encode(m.converter, message, m.Message))

    async def receive(self) -> dict[str, Any] | None:
        body = await self.reader.receive_frame()
        return None if body is None else dict(json.loads(body))

    async def hello(self) -> None:
        await self.send_message(m.Hello(protocol_version=m.PROTOCOL_VERSION))
        reply = await self.receive()
        assert reply is not None
        assert reply["op"] == "hello.reply"


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    client_end, agent_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent_end, Dispatcher(), idle_timeout_s=30).serve)
        yield Raw(client_end)
        nursery.cancel_scope.cancel()


async def test_embedded_ping() -> None:
    async with embedded() as client:
        pong = await client.ping()
    assert pong.agent_version == client.agent_version
    assert pong.uptime_s >= 0


async def test_an_error_inside_the_client_block_is_not_swallowed() -> None:
    """Closing the connection on the way out must not turn the caller's error into Cancelled."""

    class Boom(Exception):
        pass

    with pytest.RaisesGroup(Boom, flatten_subgroups=True):
        async with embedded(Dispatcher()):
            raise Boom


async def test_requests_on_one_connection_run_concurrently() -> None:
    second_done = trio.Event()
    order: list[int] = []

    async def ping(request: m.Ping, _progress: ReportProgress) -> m.Reply:
        if request.id == 1:
            await second_done.wait()  # the first waits for the second: only concurrency passes
        order.append(request.id)
        if request.id == 2:
            second_done.set()
        return m.Pong(id=request.id, agent_version="t", uptime_s=0.0)

    dispatcher = Dispatcher()
    dispatcher.register(m.Ping, ping)
    replies: list[int] = []
    with trio.fail_after(5):
        async with embedded(dispatcher) as client:

            async def one() -> None:
                replies.append((await client.ping()).id)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(one)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(one)
    assert order == [2, 1]
    assert sorted(replies) == [1, 2]


async def test_progress_replies_reach_the_caller_before_the_result() -> None:
    async def ping(request: m.Ping, progress: ReportProgress) -> m.Reply:
        await progress("image.ready", 50, "half way")
        await progress("container.created", 90, "")
        return m.Pong(id=request.id, agent_version="t", uptime_s=0.0)

    dispatcher = Dispatcher()
    dispatcher.register(m.Ping, ping)
    seen: list[tuple[str, int]] = []

    async def on_progress(update: m.Progress) -> None:
        seen.append((update.stage, update.percent))

    async with embedded(dispatcher) as client:
        reply = await client.request(m.Ping(id=0), on_progress)
    assert isinstance(reply, m.Pong)
    assert seen == [("image.ready", 50), ("container.created", 90)]


async def test_a_failing_handler_answers_an_error_and_the_connection_lives() -> None:
    calls: list[int] = []

    async def ping(request: m.Ping, _progress: ReportProgress) -> m.Reply:
        calls.append(request.id)
        if len(calls) == 1:
            raise RuntimeError("boom")
        if len(calls) == 2:
            raise errors.AgentError("SYSTEM_011", "docker is away")
        return m.Pong(id=request.id, agent_version="t", uptime_s=0.0)

    dispatcher = Dispatcher()
    dispatcher.register(m.Ping, ping)
    async with embedded(dispatcher) as client:
        with pytest.raises(AgentError) as first:
            await client.ping()
        assert first.value.code == errors.INTERNAL_ERROR
        with pytest.raises(AgentError) as second:
            await client.ping()
        assert second.value.code == "SYSTEM_011"
        assert (await client.ping()).id == 3


async def test_version_mismatch_is_refused_with_its_code() -> None:
    client_end, agent_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent_end, Dispatcher()).serve)
        raw = Raw(client_end)
        await raw.send_message(m.Hello(protocol_version=m.PROTOCOL_VERSION + 1))
        reply = await raw.receive()
        assert reply is not None
        assert reply["code"] == errors.PROTOCOL_VERSION_MISMATCH
        assert await raw.receive() is None  # and the agent hangs up


async def test_a_request_before_hello_is_refused() -> None:
    client_end, agent_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent_end, Dispatcher()).serve)
        raw = Raw(client_end)
        await raw.send_message(m.Ping(id=1))
        reply = await raw.receive()
        assert reply is not None
        assert reply["message"] == "expected hello first"


@pytest.mark.parametrize(
    ("body", "expected_id", "fragment"),
    [
        (b"not json", None, "not JSON"),
        (b"[1]", None, "not a JSON object"),
        (b'{"id": 7}', 7, "no 'op'"),
        (b'{"op": "format-disk", "id": 8}', 8, "unknown or malformed"),
        (b'{"op": "ping", "id": 9, "extra": true}', 9, "unknown or malformed"),
        (b'{"op": "ping", "id": "ten"}', None, "unknown or malformed"),
        (b'{"op": "pong", "id": 11, "agent_version": "x", "uptime_s": 1}', 11, "not a request"),
    ],
)
async def test_malformed_messages_get_error_replies_and_the_connection_stays_up(
    raw: Raw, body: bytes, expected_id: int | None, fragment: str
) -> None:
    await raw.hello()
    await raw.send(body)
    reply = await raw.receive()
    assert reply is not None
    assert reply["op"] == "error"
    assert reply["id"] == expected_id
    assert reply["code"] == errors.PROTOCOL_ERROR
    assert fragment in reply["message"]
    await raw.send_message(m.Ping(id=12))
    pong = await raw.receive()
    assert pong is not None
    assert pong["op"] == "pong"
    assert pong["id"] == 12


async def test_an_oversize_frame_ends_only_that_connection(raw: Raw) -> None:
    await raw.hello()
    await raw.stream.send_all(struct.pack(">I", 1 << 30))
    reply = await raw.receive()
    assert reply is not None
    assert "exceeds the limit" in reply["message"]
    assert await raw.receive() is None
    async with embedded() as other:  # other connections are unaffected
        assert (await other.ping()).id == 1


async def test_an_idle_connection_is_closed(autojump_clock: trio.testing.MockClock) -> None:
    client_end, agent_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent_end, Dispatcher(), idle_timeout_s=60).serve)
        raw = Raw(client_end)
        await raw.hello()
        started = trio.current_time()
        assert await raw.receive() is None
        assert trio.current_time() - started == pytest.approx(60)


def test_agent_error_codes_are_in_the_registry() -> None:
    for code in errors.ALL:
        assert by_code(code) is not None, code


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # deeper than the JSON parser recurses
        b'{"op": "ping", "id": 13, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"op": "host.exec", "id": 14, "host_id": "h", "argv": ["id"], "user": "root"}',
        b'{"op": "ping", "id": 1' + b"0" * 5000 + b"}",  # past Python's int digit limit
        b"\xff\xfe not utf-8",
    ],
    ids=["nested", "nested-value", "exec", "huge-int", "not-utf8"],
)
async def test_hostile_bodies_get_protocol_errors_and_the_connection_stays_up(
    raw: Raw, body: bytes
) -> None:
    await raw.hello()
    await raw.send(body)
    reply = await raw.receive()
    assert reply is not None
    assert (reply["op"], reply["code"]) == ("error", errors.PROTOCOL_ERROR)
    await raw.send_message(m.Ping(id=15))
    pong = await raw.receive()
    assert pong is not None
    assert (pong["op"], pong["id"]) == ("pong", 15)


@pytest.fixture
async def runtime_client(tmp_path: Path) -> AsyncIterator[AgentClient]:
    """The real runtime's operations, with no dockerd behind them: a request that reached
    Docker would fail ``docker_unavailable``, so a validation code means it never got there."""
    config = AgentConfig(state_dir=tmp_path / "state", docker_socket=str(tmp_path / "no.sock"))
    dispatcher = Dispatcher()
    Runtime(config).register(dispatcher)
    async with embedded(dispatcher) as client:
        yield client


HOSTILE_IDS = ["../../etc", "/etc/passwd", "a/b", "A", "x" * 64, "a\0b", "", "-x", "probe-1234"]


@pytest.mark.parametrize("host_id", HOSTILE_IDS)
@pytest.mark.parametrize(
    "make",
    [
        lambda h: m.StartHost(id=0, host_id=h),
        lambda h: m.RemoveHost(id=0, host_id=h, purge=True),
        lambda h: m.CreateHost(id=0, host_id=h, spec=m.BoxSpec()),
        lambda h: m.TeardownEgress(id=0, host_id=h),
        lambda h: m.HostLogs(id=0, host_id=h),
    ],
    ids=["start", "remove", "create", "teardown", "logs"],
)
async def test_every_host_operation_checks_the_id_before_anything(
    runtime_client: AgentClient, tmp_path: Path, host_id: str, make: Any
) -> None:
    with pytest.raises(AgentError) as refused:
        await runtime_client.request(make(host_id))
    assert refused.value.code == errors.VALIDATION_FAILED
    assert not (tmp_path / "state").exists()  # nothing made, not even the state directory


def test_every_operation_that_names_a_host_is_checked(tmp_path: Path) -> None:
    dispatcher = Dispatcher()
    runtime = Runtime(AgentConfig(state_dir=tmp_path))
    runtime.register(dispatcher)
    for request_type, handler in runtime.operations().items():
        registered = dispatcher.handler_for(object.__new__(request_type))
        named = "host_id" in attrs.fields_dict(request_type)
        assert (registered != handler) == named, request_type


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"timeout_s": -1.0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"timeout_s": 1e9}, "timeout_s"),
        ({"url": "http://x/" + "a" * 5000}, "url"),
        ({"url": "http://x/\r\nHost: y"}, "url"),
        ({"dns_name": "a" * 300}, "dns_name"),
    ],
)
async def test_verification_requests_are_bounded(
    runtime_client: AgentClient, fields: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(AgentError) as refused:
        await runtime_client.request(m.VerifyEgress(id=0, host_id="h1", **fields))
    assert refused.value.code == errors.VALIDATION_FAILED
    assert complaint in refused.value.message


async def test_requests_past_the_in_flight_limit_wait_unread() -> None:
    """A flood of requests on one connection runs at most ``max_in_flight`` at once."""
    running, most = 0, 0
    release = trio.Event()

    async def slow(request: m.Ping, _progress: ReportProgress) -> m.Reply:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return m.Pong(id=request.id, agent_version="t", uptime_s=0.0)

    dispatcher = Dispatcher()
    dispatcher.register(m.Ping, slow)
    client_end, agent_end = trio.testing.memory_stream_pair()
    raw = Raw(client_end)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            connection = Connection(agent_end, dispatcher, max_in_flight=3)
            nursery.start_soon(connection.serve)
            await raw.hello()
            for request_id in range(1, 11):
                await raw.send_message(m.Ping(id=request_id))
            await trio.testing.wait_all_tasks_blocked()
            assert (running, most) == (3, 3)
            release.set()
            answered = {(await raw.receive() or {}).get("id") for _ in range(10)}
            nursery.cancel_scope.cancel()
    assert answered == set(range(1, 11)) and most == 3
