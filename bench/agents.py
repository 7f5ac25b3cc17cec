"""The agent of a benchmark in either mode, so one run can measure both side by side.

- ``embedded``: the agent's runtime in this process over an in-memory stream (development and
  the tests; what the benchmarks measured before);
- ``socket``: a real ``cloudclaude-agent`` process started here, as ``make up`` and production
  run it, listening on a socket in a scratch directory (``--allow-uid 0``: the benchmark runs as
  root, as an operator would), and the daemon side configured with ``agent.mode = "socket"``,
  which makes ``open_agent`` hand out ``Agent("socket", socket=...)``: one short connection per
  call, fds passed with ``SCM_RIGHTS``.

Both get their configuration from the same place: ``agent_settings`` is the daemon's ``[agent]``
section, and the socket agent's flags are made from ``agent_config`` of those settings, the very
configuration an embedded agent of them gets (state directory, instance, egress pool, image
directory, dockerd). Each agent of a run has its own state directory and so its own instance
name (containers, home volumes, gateway names, the host's nftables table are all per instance):
the two never manage the same host. They share the kernel and the test pool, whose slots are
handed out by looking at every gateway namespace on the kernel, and the benchmarks call them
one at a time.

``open_bench_agent`` removes everything its agent made on the way out (shielded, also on
Ctrl-C), through the agent itself. The socket agent is stopped after that; if it could not
clear (it died), an embedded agent of the same configuration clears once the process is gone,
so two agents never act on one host at once. Its scratch directory (socket and log) goes last.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import attrs
import trio

from agent.config import AgentConfig, config_flags
from agent.ops.volumes import is_mounted
from bench.ratios import Mode
from bench.simnet import clear_agent
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent, agent_config, instance_of, open_agent
from cloudclaude.core.settings import AgentSettings, Settings
from tests.integration.boxes import EGRESS_POOL

AGENT_BIN = Path(sys.executable).with_name("cloudclaude-agent")
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 30.0
LOG_TAIL = 3000


@attrs.frozen
class BenchAgent:
    """An agent as the daemon reaches it, and the settings that say how."""

    agent: Agent
    settings: Settings


def agent_settings(mode: Mode, state_dir: Path) -> AgentSettings:
    """The daemon's ``[agent]`` section of a benchmark agent: its own instance, the test pool.

    The socket's path is filled in by ``open_bench_agent`` once it made a place for it.
    """
    return AgentSettings(
        mode=mode,
        state_dir=str(state_dir),
        instance=instance_of(state_dir),
        egress_pool=EGRESS_POOL,
    )


@contextlib.contextmanager
def agent_state_dirs(prefix: str, modes: Sequence[Mode]) -> Iterator[dict[Mode, Path]]:
    """A state directory per mode, under one scratch directory removed at the end.

    Outside ``/tmp/cc-*`` on purpose: the integration suite's clean-up removes containers whose
    home volume lives there. Never deleted through a mounted home volume (a box that was not
    removed): that is said instead.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield {mode: root / mode for mode in modes}
    finally:
        mounted = [
            volume
            for mode in modes
            if (root / mode / "volumes").is_dir()
            for volume in (root / mode / "volumes").iterdir()
            if is_mounted(volume)
        ]
        if mounted:
            print(f"left behind (still mounted): {', '.join(map(str, mounted))}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def agent_argv(config: AgentConfig, socket_path: Path) -> list[str]:
    """``cloudclaude-agent`` serving ``config`` on ``socket_path``, root only (0600)."""
    return [
        str(AGENT_BIN),
        f"--socket={socket_path}",
        "--socket-mode=0600",
        "--allow-uid=0",
        *config_flags(config),
        "--log-level=warning",
        "--log-format=json",
    ]


@contextlib.asynccontextmanager
async def open_bench_agent(settings: Settings) -> AsyncIterator[BenchAgent]:
    """The agent ``settings.agent.mode`` names, cleared of what it made on the way out."""
    if settings.agent.mode == "socket":
        async with _socket_agent(settings) as bench_agent:
            yield bench_agent
        return
    async with open_agent(settings) as agent:
        try:
            yield BenchAgent(agent, settings)
        finally:
            _say_problems(await clear_agent(agent))


@contextlib.asynccontextmanager
async def _socket_agent(settings: Settings) -> AsyncIterator[BenchAgent]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    path = scratch / "agent.sock"
    log_path = scratch / "agent.log"
    settings = attrs.evolve(settings, agent=attrs.evolve(settings.agent, socket=str(path)))
    config = agent_config(settings)
    await trio.Path(config.state_dir).mkdir(parents=True, exist_ok=True)
    try:
        with log_path.open("wb") as log:
            process = await trio.lowlevel.open_process(
                agent_argv(config, path),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only the benchmark, which clears first
            )
        cleared = False
        try:
            async with open_agent(settings) as agent:
                await _wait_ready(agent, process, log_path)
                try:
                    yield BenchAgent(agent, settings)
                finally:
                    cleared = await _clear_through(agent)
        finally:
            with trio.CancelScope(shield=True):
                await _stop(process)
                if not cleared:  # the process is gone: nobody else acts on its hosts now
                    embedded = attrs.evolve(settings.agent, mode="embedded")
                    async with open_agent(attrs.evolve(settings, agent=embedded)) as agent:
                        _say_problems(await clear_agent(agent))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _wait_ready(agent: Agent, process: trio.Process, log_path: Path) -> None:
    with trio.move_on_after(READY_TIMEOUT_S):
        while process.poll() is None:
            try:
                await agent.ping()
                return
            except AgentError:  # no socket yet (the agent checks sing-box and dockerd first)
                await trio.sleep(0.05)
    tail = (await trio.Path(log_path).read_text(errors="replace"))[-LOG_TAIL:]
    if process.poll() is None:
        problem = f"did not answer within {READY_TIMEOUT_S:.0f} s"
    else:
        problem = f"exited with {process.returncode}"
    raise RuntimeError(f"cloudclaude-agent {problem}:\n{tail}")


async def _clear_through(agent: Agent) -> bool:
    """Clear through the socket agent; False when it could not be asked (it died)."""
    try:
        problems = await clear_agent(agent)
    except AgentError as exc:
        print(f"the socket agent could not clear ({exc}); clearing after it", file=sys.stderr)
        return False
    _say_problems(problems)
    return True


async def _stop(process: trio.Process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_GRACE_S):
            await process.wait()
    if process.poll() is None:
        process.kill()
        await process.wait()
    if process.returncode not in (0, -signal.SIGKILL):
        print(f"cloudclaude-agent exited with {process.returncode}", file=sys.stderr)


def _say_problems(problems: list[str]) -> None:
    for problem in problems:
        print(f"could not remove {problem}", file=sys.stderr)
