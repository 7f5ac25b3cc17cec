"""The agent logs through structlog in the daemon's JSON format (one configuration, two users).

Each side runs in a fresh interpreter, configured the way its entry point does it: the agent
side imports nothing of the daemon, and a failing request makes ``agent.server`` log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_AGENT = """
import trio, trio.testing
from agent import logconfig
from agent.dispatch import Dispatcher
from agent.protocol import messages as m
from agent.protocol.codec import encode
from agent.protocol.framing import FrameReader, send_frame
from agent.server import Connection

async def fail(request, progress):
    raise RuntimeError("boom")

async def main():
    dispatcher = Dispatcher()
    dispatcher.register(m.Ping, fail)
    client, agent = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Connection(agent, dispatcher).serve)
        reader = FrameReader(client)
        for message in (m.Hello(protocol_version=m.PROTOCOL_VERSION), m.Ping(id=1)):
            await send_frame(client, encode(m.converter, message, m.Message))
            await reader.receive_frame()
        nursery.cancel_scope.cancel()

logconfig.configure("info", "json")
trio.run(main)
"""

_DAEMON = """
import structlog
from cloudclaude.core import logging as cc_logging

cc_logging.configure("info", "json")
try:
    raise RuntimeError("boom")
except RuntimeError:
    log = structlog.get_logger(component="tasks")
    log.exception("agent_request_failed", op="ping", request_id=1)
"""


def _json_lines(script: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def test_agent_log_lines_are_json_with_the_daemons_keys() -> None:
    (agent_line,) = _json_lines(_AGENT)
    (daemon_line,) = _json_lines(_DAEMON)
    assert set(agent_line) == set(daemon_line)
    assert {"event", "level", "timestamp", "component"} <= set(agent_line)
    assert agent_line["event"] == "agent_request_failed"
    assert agent_line["level"] == "error"
    assert agent_line["component"] == "agent"
    assert "RuntimeError: boom" in agent_line["exception"]


def test_the_agent_configures_logging_without_the_daemon() -> None:
    script = (
        _AGENT + "\nimport sys\nassert not any(n.startswith('cloudclaude') for n in sys.modules)\n"
    )
    assert _json_lines(script)
