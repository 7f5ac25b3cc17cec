"""An attacker's view of the agent: a real ``cloudclaude-agent``, raw frames, and what to watch.

``HostileClient`` passes the peer-credential check (it runs as root) and then sends whatever
bytes a compromised daemon might: JSON built by hand, never only the typed messages. The other
helpers make containers the agent did not make and record what the host looks like, so a test
can show a refused request changed nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from agent.ops.names import container_name
from agent.protocol import messages as m
from agent.protocol.framing import FrameReader
from tests.integration import boxes, pg
from tests.integration.processes import BIN, wait_for

EXCHANGE_S = 30.0


class HostileClient:
    """One connection after ``hello``: raw bodies in, decoded reply frames out."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reader = FrameReader(stream)
        self._next_id = 1000

    @classmethod
    @asynccontextmanager
    async def connect(cls, path: Path) -> AsyncIterator[HostileClient]:
        with trio.fail_after(EXCHANGE_S):
            stream = await trio.open_unix_socket(str(path))
        client = cls(stream)
        try:
            hello = {"op": "hello", "protocol_version": m.PROTOCOL_VERSION, "client": "hostile"}
            reply = await client.ask(hello)
            assert reply["op"] == "hello.reply", reply
            yield client
        finally:
            await stream.aclose()

    async def send_raw(self, data: bytes) -> None:
        with trio.fail_after(EXCHANGE_S):
            await self.stream.send_all(data)

    async def receive(self) -> dict[str, Any] | None:
        """The next frame that is not progress (None: the agent hung up)."""
        with trio.fail_after(EXCHANGE_S):
            while True:
                body = await self.reader.receive_frame()
                if body is None:
                    return None
                frame: dict[str, Any] = json.loads(body)
                if frame.get("op") != "progress":
                    return frame

    async def ask(self, request: dict[str, Any] | bytes) -> dict[str, Any]:
        """Send one frame (a dict is JSON-encoded as is, extra keys and all); its reply."""
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        await self.send_raw(struct.pack(">I", len(body)) + body)
        reply = await self.receive()
        assert reply is not None, "the agent hung up"
        return reply

    async def refused(self, request: dict[str, Any] | bytes) -> str:
        """The error code the agent answered ``request`` with (anything else fails)."""
        reply = await self.ask(request)
        assert reply["op"] == "error", (request, reply)
        return str(reply["code"])

    async def still_serving(self) -> None:
        self._next_id += 1
        pong = await self.ask({"op": "ping", "id": self._next_id})
        assert (pong["op"], pong["id"]) == ("pong", self._next_id), pong


@attrs.frozen
class AgentProcess:
    socket: Path
    state_dir: Path
    instance: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextmanager
def agent_process() -> Iterator[AgentProcess]:
    """``cloudclaude-agent`` in socket mode with its own state directory and instance name."""
    scratch = pg.scratch_dir("cc-hostile-")
    state, sock, log = scratch / "state", scratch / "agent.sock", scratch / "agent.log"
    state.mkdir(mode=0o700)
    instance = f"cc-hostile-{uuid.uuid4().hex[:8]}"
    argv = [
        str(BIN / "cloudclaude-agent"),
        f"--socket={sock}",
        f"--state-dir={state}",
        f"--instance={instance}",
        f"--egress-pool={boxes.EGRESS_POOL}",
        "--log-format=json",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stderr=out)
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, 30, "the agent socket")
        assert proc.poll() is None, log.read_text()
        yield AgentProcess(sock, state, instance, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def foreign_container(image: str, host_id: str, labels: dict[str, str]) -> Iterator[str]:
    """A running container named like ``host_id``'s box that the agent under test did not make
    (made straight on dockerd); removed afterwards, also when the test failed."""
    name = container_name(host_id)
    body = {
        "Image": image,
        "Entrypoint": ["sleep"],
        "Cmd": ["3600"],
        "Labels": labels,
        "HostConfig": {"NetworkMode": "none"},
    }
    made = boxes.docker_api("POST", "/containers/create", params={"name": name}, json=body)
    assert made.status_code == 201, made.text
    container_id = str(made.json()["Id"])
    try:
        started = boxes.docker_api("POST", f"/containers/{container_id}/start")
        assert started.status_code == 204, started.text
        yield container_id
    finally:
        boxes.docker_api("DELETE", f"/containers/{container_id}", params={"force": "1"})


def container_facts(container_id: str) -> dict[str, Any]:
    """What a touched container would show: its state, start, mounts, labels and name."""
    info = boxes.docker_api("GET", f"/containers/{container_id}/json").json()
    state = info["State"]
    return {
        "id": info["Id"],
        "name": info["Name"],
        "running": state["Running"],
        "pid": state["Pid"],
        "started": state["StartedAt"],
        "restarts": info["RestartCount"],
        "mounts": info["Mounts"],
        "labels": info["Config"]["Labels"],
    }


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (the agent's state directory)."""
    found = set()
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(parent, name), root))
    return found


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        return {line.split()[4] for line in mountinfo}


def containers_named(fragment: str) -> list[str]:
    found = boxes.docker_api("GET", "/containers/json", params={"all": "1"}).json()
    return [name for c in found for name in c["Names"] if fragment in name]
