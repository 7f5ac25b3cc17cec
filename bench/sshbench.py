"""Shared set-up of the SSH benchmarks: a running box reached two ways, by OpenSSH's ``ssh``.

``run_ssh_benches(measure, modes)`` starts a private Postgres (as ``bench.api`` does) and the
simulated internet (``bench.simnet``), then, in one trio run, a stack per agent mode
(``bench.agents``: ``embedded`` in this process, ``socket`` a real ``cloudclaude-agent`` process
the daemon side reaches with ``agent.mode = "socket"``), each with its own database, agent
state directory and instance, sharing nothing: applies the migrations, builds the daemon's
services, creates the simulated internet's ``direct`` exit (the default exit of new hosts),
runs the task workers and the SSH proxy on an ephemeral loopback port (as the integration tests
do), creates a user with a registered key and one host, starts it (gateway and egress
verification included), and calls ``measure`` with an ``SshBench`` per mode.
``run_ssh_bench(measure)`` does the same for the embedded mode alone.
Its ``argv`` builds an ``ssh`` command line for either leg:

- ``proxy``: the user's key, to the proxy (``user@127.0.0.1 -p PORT``), which logs in to the
  box's sshd over a socket from the agent: what a user gets;
- ``direct``: the box's own key pair, as ``claude``, straight to the box's sshd over a socket
  from the agent (``agent.open_port(host, 22)``), with no proxy in between. The socket reaches
  ``ssh`` through ``ProxyCommand`` + ``ProxyUseFdpass``: a tiny helper asks a Unix socket served
  here for it (SCM_RIGHTS) and hands it to ``ssh`` the same way.

Everything is removed at the end, also on Ctrl-C or SIGTERM: each host's container, gateway and
home volume (shielded), the task workers and the proxies, the agent process, the simulated
internet, the agents' and Postgres' directories.
The agents' directories are kept outside ``/tmp/cc-*`` on purpose: the integration suite's
clean-up removes containers whose home volume lives there.
"""

from __future__ import annotations

import array
import contextlib
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import asyncssh
import attrs
import trio
import trio_asyncio

from bench.agents import agent_settings, agent_state_dirs, open_bench_agent
from bench.api import DATABASE, interruptible, private_cluster, scratch_dir
from bench.ratios import MODES, Mode
from bench.simnet import DEFAULT_KIND, egress_settings, simulated_internet
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.app.supervisor import proxy_context
from cloudclaude.app.wiring import build
from cloudclaude.core.logging import configure
from cloudclaude.core.private_files import write_private
from cloudclaude.core.settings import (
    DatabaseSettings,
    LiveSettings,
    Settings,
    SshSettings,
    TaskSettings,
)
from cloudclaude.db import migrate
from cloudclaude.db.pool import Database
from cloudclaude.domain.hosts import Hosts
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits
from cloudclaude.sshproxy.hostkey import known_hosts_line
from cloudclaude.sshproxy.server import SshProxy
from cloudclaude.tasks.workers import TaskWorkers
from tests.integration.netsim import SimInternet

Leg = Literal["direct", "proxy"]
LEGS: tuple[Leg, Leg] = ("direct", "proxy")
GCM = "aes128-gcm@openssh.com"
TASKS = TaskSettings(workers=2, lease_s=6, poll_s=0.2, retry_base_s=0.2)
TASK_TIMEOUT_S = 600  # the first create may build the box image

#: The ``ProxyCommand`` of the direct leg: fetch the socket from the benchmark's Unix socket,
#: pass it on to ``ssh`` on stdout (``ProxyUseFdpass``), exit.
FDPASS = """\
import array, socket, sys
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
_, anc, _, _ = c.recvmsg(1, socket.CMSG_SPACE(4))
if not anc:
    sys.exit("fdpass: no socket from the benchmark (see its output)")
fd = array.array("i")
fd.frombytes(anc[0][2][:4])
socket.socket(fileno=1).sendmsg([b"\\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd)])
"""

_CIPHER_LINE = re.compile(r"kex: client->server cipher: (\S+)")
T = TypeVar("T")


@attrs.frozen
class SshBench:
    """A running box and the ``ssh`` command lines that reach it."""

    workdir: Path
    proxy_port: int
    username: str
    host_id: uuid.UUID
    user_key: Path
    box_key: Path
    known_hosts: Path
    fd_socket: Path
    fdpass: Path

    def argv(
        self, leg: Leg, *command: str, cipher: str | None = None, tty: bool = False
    ) -> list[str]:
        """``ssh`` to the box by ``leg``; ``cipher`` forces one, else OpenSSH's default choice."""
        argv = [
            "ssh", "-F", "/dev/null",
            "-o", "BatchMode=yes",
            "-o", "IdentityAgent=none",
            "-o", "IdentitiesOnly=yes",
            "-o", "PreferredAuthentications=publickey",
            "-o", "ConnectTimeout=30",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        if cipher is not None:
            argv += ["-c", cipher]
        if tty:
            argv.append("-tt")
        if leg == "proxy":
            argv += [
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes",
                "-i", str(self.user_key),
                "-p", str(self.proxy_port),
                f"{self.username}@127.0.0.1",
            ]  # fmt: skip
        else:
            # Only this process can reach the box's sshd, so its host key is not pinned.
            argv += [
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=no",
                "-o", f"ProxyCommand={sys.executable} -I {self.fdpass} {self.fd_socket}",
                "-o", "ProxyUseFdpass=yes",
                "-i", str(self.box_key),
                "claude@box",
            ]  # fmt: skip
        return [*argv, *command]

    @property
    def env(self) -> dict[str, str]:
        """A clean environment for ``ssh`` (its HOME is the scratch directory)."""
        return {"PATH": os.environ["PATH"], "HOME": str(self.workdir), "LANG": "C.UTF-8"}

    async def handshake(self, leg: Leg, cipher: str | None = None) -> tuple[str, float]:
        """The cipher ``ssh`` negotiates on ``leg`` and the seconds of a ``true`` round trip."""
        argv = self.argv(leg, "true", cipher=cipher)
        argv[argv.index("LogLevel=ERROR")] = "LogLevel=DEBUG1"
        started = time.perf_counter()
        done = await trio.run_process(
            argv, env=self.env, capture_stdout=True, capture_stderr=True, check=False
        )
        elapsed = time.perf_counter() - started
        stderr = done.stderr.decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"ssh ({leg}) exited with {done.returncode}:\n{stderr[-2000:]}")
        found = _CIPHER_LINE.search(stderr)
        return (found.group(1) if found else "?"), elapsed


def run_ssh_bench(measure: Callable[[SshBench], Awaitable[T]]) -> T:
    """One embedded stack: set everything up, ``measure``, tear everything down.

    Ctrl-C raises KeyboardInterrupt.
    """

    async def embedded(benches: dict[Mode, SshBench]) -> T:
        return await measure(benches["embedded"])

    return run_ssh_benches(embedded, ("embedded",))


def run_ssh_benches(
    measure: Callable[[dict[Mode, SshBench]], Awaitable[T]], modes: Sequence[Mode] = MODES
) -> T:
    """A stack per agent mode, each with its own database, agent and box; then ``measure``.

    Ctrl-C raises KeyboardInterrupt once everything is torn down.
    """
    configure("warning", "console")
    with (
        scratch_dir() as root,
        agent_state_dirs("bench-ssh-boxes-", modes) as boxes,
        private_cluster(root) as cluster,
        simulated_internet() as sim,
    ):
        dsns: dict[Mode, str] = {}
        for mode in modes:
            cluster.ensure_database(f"{DATABASE}_{mode}")
            dsns[mode] = cluster.dsn(f"{DATABASE}_{mode}")
        return trio.run(_measure_in, measure, dsns, root, boxes, sim)


async def _measure_in(
    measure: Callable[[dict[Mode, SshBench]], Awaitable[T]],
    dsns: dict[Mode, str],
    root: Path,
    boxes: dict[Mode, Path],
    sim: SimInternet,
) -> T:
    """The stacks' databases and agents outside the cancel scope a signal cancels (so the
    boxes, gateways and home volumes are still removed after an interrupt), the rest inside.
    """
    # Out here: inside trio-asyncio's loop the KeyboardInterrupt would come wrapped in a group.
    async with (
        interruptible() as work,
        trio_asyncio.open_loop(),
        contextlib.AsyncExitStack() as stacks,
    ):
        opened: dict[Mode, tuple[LiveSettings, Database, Agent]] = {}
        for mode, dsn in dsns.items():
            opened[mode] = await stacks.enter_async_context(
                _open_backing(mode, dsn, root / mode, boxes[mode], sim)
            )
        with work:
            async with trio.open_nursery() as nursery:
                stopping = trio.Event()
                try:
                    benches: dict[Mode, SshBench] = {}
                    for mode, (live, db, agent) in opened.items():
                        print(f"{mode} agent:", flush=True)
                        await migrate.apply_all(db)
                        workdir = root / mode / "ssh"
                        benches[mode] = await _start(
                            live, db, agent, nursery, stopping, workdir, sim
                        )
                    return await measure(benches)
                finally:
                    stopping.set()
                    nursery.cancel_scope.cancel()
    raise KeyboardInterrupt  # the work was cancelled by a signal (interruptible re-raised it)


@contextlib.asynccontextmanager
async def _open_backing(
    mode: Mode, dsn: str, state: Path, boxes: Path, sim: SimInternet
) -> AsyncIterator[tuple[LiveSettings, Database, Agent]]:
    """A daemon's settings, database and agent of ``mode``; the agent cleared on the way out."""
    await trio.Path(state / "ssh").mkdir(parents=True)
    settings = Settings(
        state_dir=str(state),
        database=DatabaseSettings(url=dsn),
        agent=agent_settings(mode, boxes),
        egress=egress_settings(sim),
        ssh=SshSettings(host="127.0.0.1", port=0),
        tasks=TASKS,
    )
    async with (
        Database.open(dsn, max_size=5) as db,
        open_bench_agent(settings) as bench_agent,
    ):
        yield LiveSettings(bench_agent.settings), db, bench_agent.agent


async def _start(
    live: LiveSettings,
    db: Database,
    agent: Agent,
    nursery: trio.Nursery,
    stopping: trio.Event,
    workdir: Path,
    sim: SimInternet,
) -> SshBench:
    """Workers, proxy, a user with a key, a running host, the direct leg's socket server."""
    print("ensuring the box image (first build takes minutes) ...", flush=True)
    await agent.ensure_image()
    services = await build(live, db, agent)
    actor = Actor(name="bench")
    await services.exits.create(actor, sim.exit_body(DEFAULT_KIND))  # the hosts' default exit
    workers = TaskWorkers(db, agent, live, services.metrics, stopping, services.exits)
    await nursery.start(workers.run)
    proxy = SshProxy(proxy_context(services), services.ssh_host_key, stopping)
    await nursery.start(proxy.run)

    username = f"bench{uuid.uuid4().hex[:8]}"
    user, _ = await services.accounts.create(actor, username=username)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="bench")
    user_key = write_private(workdir / "id_user", key.export_private_key())
    await services.accounts.add_key(actor, user.id, key.export_public_key().decode().strip())

    print("creating and starting a host ...", flush=True)
    host, _, task = await services.hosts.create(
        actor, user_id=user.id, limits=HostLimits(disk_gb=1)
    )
    await _wait_task(services.hosts, task.id)
    task = await services.hosts.act(actor, host.id, "start")
    await _wait_task(services.hosts, task.id)
    box_key = write_private(workdir / "id_box", await services.hosts.box_private_key(host.id))

    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(known_hosts_line(services.ssh_host_key, "127.0.0.1", proxy.port) + "\n")
    fdpass = workdir / "fdpass.py"
    fdpass.write_text(FDPASS)
    fd_socket = workdir / "fd.sock"
    await nursery.start(_serve_box_sockets, agent, str(host.id), fd_socket)
    return SshBench(
        workdir=workdir,
        proxy_port=proxy.port,
        username=username,
        host_id=host.id,
        user_key=user_key,
        box_key=box_key,
        known_hosts=known_hosts,
        fd_socket=fd_socket,
        fdpass=fdpass,
    )


async def _wait_task(hosts: Hosts, task_id: uuid.UUID) -> None:
    with trio.fail_after(TASK_TIMEOUT_S):
        while True:
            task = await hosts.tasks.get(str(task_id))
            if not task.active:
                break
            await trio.sleep(0.1)
    if task.status != "succeeded":
        raise RuntimeError(
            f"task {task.kind} {task.status}: {task.error_code} {task.error_message}"
        )


async def _serve_box_sockets(
    agent: Agent,
    host_id: str,
    path: Path,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer each connection with a new socket to the box's sshd (SCM_RIGHTS), then close."""
    listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with listener:
        await listener.bind(str(path))
        listener.listen(16)
        task_status.started()
        while True:
            conn, _ = await listener.accept()
            with conn:
                try:
                    box = await agent.open_port(host_id, 22)
                except AgentError as exc:
                    print(f"direct leg: OpenPort failed: {exc}", file=sys.stderr, flush=True)
                    continue  # the helper sees no socket and fails, and so does ssh
                with box:
                    fds = array.array("i", [box.fileno()])
                    await conn.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
