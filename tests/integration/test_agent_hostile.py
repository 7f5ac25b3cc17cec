"""The agent against a compromised daemon: hostile frames from a client the peer check admits.

A real ``cloudclaude-agent`` in socket mode; a client that passes its peer-credential check
sends what a compromised daemon would, as raw JSON: a mount of ``/``, an exec as root, a foreign
image, ``../`` and absolute paths as host ids, the ids of containers this agent did not make,
oversized frames and values, malformed JSON and wrong types. Each is refused with a registry
code, the agent keeps serving, and the host is untouched: the foreign containers are as they
were, no mount appeared, nothing was made in or outside the agent's state directory.
"""

from __future__ import annotations

import contextlib
import struct
import typing
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from agent import errors
from agent.protocol import messages as m
from agent.protocol.framing import MAX_FRAME
from tests.integration import hostile
from tests.integration.box_exec import exec_in_host
from tests.integration.hostile import AgentProcess, HostileClient

PWNED = f"cc-pwned-{uuid.uuid4().hex[:8]}"
DIRECT_EXIT = {"kind": "direct", "dns_server": "198.18.0.53"}
#: Every request that names a host, with fields that are otherwise valid.
HOST_OPS: dict[str, dict[str, Any]] = {
    "host.create": {"spec": {"disk_gb": 1}},
    "host.start": {},
    "host.stop": {"grace_s": 0},
    "host.remove": {"purge": True},
    "host.inspect": {},
    "host.logs": {"tail": 10},
    "host.stats": {},
    "host.activity": {},
    "port.open": {"port": 22},
    "egress.setup": {"gateway": {"exit": DIRECT_EXIT}},
    "egress.teardown": {},
    "egress.allowlist": {"allowed_domains": []},
    "egress.verify": {"timeout_s": 1.0},
    "egress.llm_listener": {},
    # Without the socket they carry (SCM_RIGHTS): refused after the host id check.
    "home.export": {},
    "home.import": {"disk_gb": 1},
    "host.mount_checkout": {"path": "/home/alice/proj"},
    "host.unmount_checkout": {"path": "/home/alice/proj"},
}
BAD_IDS = [
    f"../../../../tmp/{PWNED}",
    f"/tmp/{PWNED}",
    "..",
    f"t-x/../../{PWNED}",
    "t-a\x00b",
    "T-UPPER",
    "t-" + "a" * 62,  # 64 characters
    "a" * 100_000,
    "",
    "-t-x",
    "t-x\n",
    "\uff54-x",  # a fullwidth t
    "t x",
    "probe-deadbeef",  # the agent's own throwaway gateways
]


def frame(op: str, host_id: str, request_id: int = 1, **fields: Any) -> dict[str, Any]:
    return {"op": op, "id": request_id, "host_id": host_id, **fields}


def fresh_id() -> str:
    return f"t-hostile-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def agent(box_image: str) -> Iterator[AgentProcess]:
    with hostile.agent_process() as process:
        yield process


@pytest.fixture(scope="module")
def foreign(agent: AgentProcess, box_image: str) -> Iterator[dict[str, tuple[str, str]]]:
    """Running containers named like a host's box, not made by this agent: one plain, one
    labelled as managed by another installation. Removed afterwards, also on failure."""
    plain, lookalike = fresh_id(), fresh_id()
    labels = {
        "cloudclaude.managed": "1",
        "cloudclaude.host_id": lookalike,
        "cloudclaude.instance": "someone-else",
    }
    with (
        hostile.foreign_container(box_image, plain, {}) as plain_id,
        hostile.foreign_container(box_image, lookalike, labels) as lookalike_id,
    ):
        yield {"plain": (plain, plain_id), "lookalike": (lookalike, lookalike_id)}


@pytest.fixture
async def client(agent: AgentProcess) -> AsyncIterator[HostileClient]:
    async with HostileClient.connect(agent.socket) as connected:
        yield connected


def host_view(agent: AgentProcess, containers: list[str]) -> dict[str, Any]:
    """What a successful attack would change: the agent's state, mounts, the containers."""
    scratch = str(agent.state_dir.parent)
    return {
        "state": hostile.tree(agent.state_dir),
        "mounts": {p for p in hostile.mount_points() if p.startswith(scratch) or PWNED in p},
        "containers": [hostile.container_facts(c) for c in containers],
        "pwned": list(Path("/tmp").glob(f"{PWNED}*")) + list(Path("/").glob(f"{PWNED}*")),
    }


def assert_clean(agent: AgentProcess, before: dict[str, Any], containers: list[str]) -> None:
    assert host_view(agent, containers) == before
    assert not before["pwned"] and not before["mounts"]
    assert agent.proc.poll() is None, "the agent died"
    log = agent.log.read_text()
    assert "agent_request_failed" not in log and "Traceback" not in log, log[-3000:]


def test_the_table_holds_every_request_that_names_a_host() -> None:
    named = {
        m.op_name(kind)
        for kind in typing.get_args(m.Request)
        if "host_id" in attrs.fields_dict(kind)
    }
    assert named == set(HOST_OPS)


SMUGGLED = {
    "mount /": {"spec": {"disk_gb": 1, "mounts": [{"source": "/", "target": "/host"}]}},
    "bind /": {"spec": {"disk_gb": 1, "binds": ["/:/host:rw"]}},
    "foreign image": {"spec": {"disk_gb": 1, "image": "debian:bookworm"}},
    "image beside spec": {"spec": {"disk_gb": 1}, "image": "debian:bookworm"},
    "privileged": {"spec": {"disk_gb": 1, "privileged": True}},
    "cap_add": {"spec": {"disk_gb": 1, "cap_add": ["SYS_ADMIN"]}},
    "resolver": {"spec": {"disk_gb": 1, "dns": ["198.18.0.53"]}},
}


@pytest.mark.parametrize("fields", SMUGGLED.values(), ids=list(SMUGGLED))
async def test_a_create_that_names_a_path_an_image_or_a_privilege_is_refused(
    agent: AgentProcess, client: HostileClient, fields: dict[str, Any]
) -> None:
    host_id = fresh_id()
    before = host_view(agent, [])
    code = await client.refused(frame("host.create", host_id, **fields))
    assert code == errors.PROTOCOL_ERROR
    await client.still_serving()
    assert hostile.containers_named(host_id) == []
    assert_clean(agent, before, [])


async def test_there_is_no_exec_for_any_user(
    agent: AgentProcess, client: HostileClient, foreign: dict[str, tuple[str, str]]
) -> None:
    host_id, container_id = foreign["plain"]
    before = host_view(agent, [container_id])
    touch = ["sh", "-c", f"touch /{PWNED} /tmp/{PWNED}"]
    for op in ("host.exec", "exec", "host.run", "container.exec"):
        code = await client.refused(frame(op, host_id, argv=touch, user="root"))
        assert code == errors.PROTOCOL_ERROR, op
        await client.still_serving()
    code = await client.refused(frame("host.start", host_id, argv=touch, user="0"))
    assert code == errors.PROTOCOL_ERROR
    inside = await exec_in_host(host_id, ["sh", "-c", f"ls /{PWNED} /tmp/{PWNED}"])
    assert inside.exit_code != 0, inside  # nothing ran in the box either
    assert_clean(agent, before, [container_id])


@pytest.mark.parametrize("op", list(HOST_OPS))
async def test_malformed_and_path_like_host_ids_are_refused_before_anything(
    agent: AgentProcess, client: HostileClient, op: str
) -> None:
    before = host_view(agent, [])
    for number, host_id in enumerate(BAD_IDS):
        code = await client.refused(frame(op, host_id, number, **HOST_OPS[op]))
        assert code == errors.VALIDATION_FAILED, (op, host_id[:80])
    await client.still_serving()
    assert hostile.containers_named(PWNED) == []
    assert_clean(agent, before, [])


#: What an operation on a container the agent did not make answers (all else: STATE_014).
NOT_A_CONTAINER_OP = {"egress.teardown": None, "egress.allowlist": errors.HOST_NOT_RUNNING}


@pytest.mark.parametrize("kind", ["plain", "lookalike"])
async def test_containers_this_agent_did_not_make_are_left_alone(
    agent: AgentProcess,
    client: HostileClient,
    foreign: dict[str, tuple[str, str]],
    kind: str,
) -> None:
    host_id, container_id = foreign[kind]
    before = host_view(agent, [container_id])
    for op, fields in HOST_OPS.items():
        reply = await client.ask(frame(op, host_id, **fields))
        expected = NOT_A_CONTAINER_OP.get(op, errors.HOST_NOT_MANAGED)
        if expected is None:  # only the agent's own gateway records: there are none
            assert (reply["op"], reply["changed"]) == ("done", False), (op, reply)
        else:
            assert (reply["op"], reply.get("code")) == ("error", expected), (op, reply)
    # Its Docker ids are no host ids: too long, or naming another (absent) container.
    code = await client.refused(frame("host.stop", container_id))
    assert code == errors.VALIDATION_FAILED
    code = await client.refused(frame("host.start", container_id[:12]))
    assert code == errors.CONTAINER_MISSING
    await client.still_serving()
    assert_clean(agent, before, [container_id])


OVERSIZED_SPECS = {
    "authorized_key": {"authorized_key": "k" * 900_000},
    "hostname": {"hostname": "a" * 5000},
    "timezone": {"timezone": "../" * 1000 + "etc/shadow"},
    "cpus": {"cpus": 1e308},
    "memory_mb": {"memory_mb": 2**62},
    "disk_gb": {"disk_gb": 10**9},
    "pids": {"pids": -1},
}


async def test_oversized_and_out_of_range_values_are_refused(
    agent: AgentProcess, client: HostileClient
) -> None:
    host_id = fresh_id()
    before = host_view(agent, [])
    for name, spec in OVERSIZED_SPECS.items():
        code = await client.refused(frame("host.create", host_id, spec=spec))
        assert code == errors.VALIDATION_FAILED, name
    domains = [f"d{n}.example" for n in range(40_000)]
    code = await client.refused(frame("egress.allowlist", host_id, allowed_domains=domains))
    assert code == errors.VALIDATION_FAILED
    for fields in ({"url": "http://198.18.1.1/" + "a" * 500_000}, {"timeout_s": 1e12}):
        code = await client.refused(frame("egress.verify", host_id, **fields))
        assert code == errors.VALIDATION_FAILED, fields
    for port in (0, 65536, -1):
        code = await client.refused(frame("port.open", host_id, port=port))
        assert code == errors.VALIDATION_FAILED, port
    for path in ("/", "/etc", "/proc/1/root", "home/x", "/home/a/../../etc", "/x" * 600):
        for op in ("host.mount_checkout", "host.unmount_checkout"):
            code = await client.refused(frame(op, host_id, path=path))
            assert code == errors.MOUNT_PATH_REFUSED, (op, path[:80])
    await client.still_serving()
    assert hostile.containers_named(host_id) == []
    assert_clean(agent, before, [])


@pytest.mark.parametrize(
    "header",
    [struct.pack(">I", 1 << 31), struct.pack(">I", MAX_FRAME + 1)],
    ids=["2GiB", "one-over"],
)
async def test_an_oversized_frame_ends_only_its_connection(
    agent: AgentProcess, client: HostileClient, header: bytes
) -> None:
    before = host_view(agent, [])
    await client.send_raw(header + b"{")
    reply = await client.receive()
    assert reply is not None and reply["code"] == errors.PROTOCOL_ERROR, reply
    assert await client.receive() is None  # and it hangs up
    async with HostileClient.connect(agent.socket) as other:
        await other.still_serving()
    assert_clean(agent, before, [])


async def test_a_frame_cut_short_ends_only_its_connection(agent: AgentProcess) -> None:
    async with HostileClient.connect(agent.socket) as cut:
        await cut.send_raw(struct.pack(">I", 4096) + b'{"op": "host.remove", "id": 1,')
    async with HostileClient.connect(agent.socket) as other:
        await other.still_serving()


MALFORMED: dict[str, bytes | dict[str, Any]] = {
    "cut JSON": b'{"op": "host.start", "id": 5, "host_id": ',
    "deep nesting": b"[" * 200_000,
    "deep value": b'{"op": "ping", "id": 6, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "not UTF-8": b"\xff\xfe\x00",
    "null": b"null",
    "string": b'"host.start"',
    "huge int": b'{"op": "ping", "id": 1' + b"0" * 10_000 + b"}",
    "no op": {"id": 7, "host_id": "t-a"},
    "unknown op": {"op": "host.format", "id": 8, "host_id": "t-a"},
    "reply as request": {"op": "pong", "id": 9, "agent_version": "x", "uptime_s": 0},
    "hello again": {"op": "hello", "protocol_version": m.PROTOCOL_VERSION},
    "id as string": {"op": "host.start", "id": "10", "host_id": "t-a"},
    "host_id as int": {"op": "host.start", "id": 11, "host_id": 5},
    "host_id as list": {"op": "host.start", "id": 12, "host_id": ["t-a"]},
    "host_id as null": {"op": "host.start", "id": 13, "host_id": None},
    "port as string": {"op": "port.open", "id": 14, "host_id": "t-a", "port": "22"},
    "purge as string": {"op": "host.remove", "id": 15, "host_id": "t-a", "purge": "yes"},
    "grace as float": {"op": "host.stop", "id": 16, "host_id": "t-a", "grace_s": 1.5},
    "tail as bool": {"op": "host.logs", "id": 17, "host_id": "t-a", "tail": True},
    "spec as string": {"op": "host.create", "id": 18, "host_id": "t-a", "spec": "x"},
    "cpus as string": {"op": "host.create", "id": 19, "host_id": "t-a", "spec": {"cpus": "2"}},
    "extra key": {"op": "host.start", "id": 20, "host_id": "t-a", "privileged": True},
}


async def test_malformed_json_and_wrong_types_get_protocol_errors(
    agent: AgentProcess, client: HostileClient
) -> None:
    before = host_view(agent, [])
    for name, body in MALFORMED.items():
        assert await client.refused(body) == errors.PROTOCOL_ERROR, name
        await client.still_serving()
    assert_clean(agent, before, [])


async def test_an_old_client_is_told_the_protocol_changed(agent: AgentProcess) -> None:
    """Protocol 1 still had exec, image and mounts: its clients are turned away at hello."""
    stream = await trio.open_unix_socket(str(agent.socket))
    async with stream:
        reply = await HostileClient(stream).ask({"op": "hello", "protocol_version": 1})
    assert (reply["op"], reply["code"]) == ("error", errors.PROTOCOL_VERSION_MISMATCH)


async def test_connections_past_the_limit_are_turned_away_and_the_agent_serves_on(
    agent: AgentProcess, client: HostileClient
) -> None:
    """A peer that opens connection after connection cannot exhaust the agent."""
    from agent.main import MAX_CONNECTIONS

    async with contextlib.AsyncExitStack() as stack:
        held = 1  # `client` holds one already
        while held < MAX_CONNECTIONS:
            await stack.enter_async_context(HostileClient.connect(agent.socket))
            held += 1
        stream = await trio.open_unix_socket(str(agent.socket))
        async with stream:
            reply = await HostileClient(stream).receive()
        assert reply is not None and (reply["op"], reply["code"]) == (
            "error",
            errors.AGENT_UNAVAILABLE,
        )
        await client.still_serving()
    async with HostileClient.connect(agent.socket) as again:  # freed slots serve again
        await again.still_serving()
