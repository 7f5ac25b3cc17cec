"""Bootstrap: ``curl … | sh`` on a stopped host, from the password until the box's shell.

``python -m bench.bootstrap [RUNS]`` (default 10) starts a private Postgres, the simulated
internet (``bench.simnet``) and ``cloudclaude run`` (HTTP and SSH proxy on loopback ports, new
hosts bound to the simulated internet's ``direct`` exit), creates a user with a login password
and one host, starts and stops it once (the first boot makes the box's host keys), then RUNS
times, alternating the order:

- bootstrap: with the host stopped, the real ``web/scripts/connect.sh`` runs under a pty as a
  user runs it (``curl -fsSL SERVER/v1/bootstrap/script | sh -s -- USER``); the clock starts
  when the password is typed (the script then sends ``POST /v1/bootstrap/sessions``, follows
  the start task by long-poll, fetches the handoff and runs ``ssh`` with the one-time ticket)
  and stops when tmux's status line (``0:claude``) is on the screen: the box's shell prompt.
  The time until the script prints ``starting: host.running`` is shown too;
- baseline: with the host stopped, ``POST /v1/admin/hosts/{id}/start`` until the host is
  ``running`` (polled every 10 ms): the plain start task (container, gateway, egress verified,
  sshd ready), so bootstrap / baseline is what the login flow adds on top of a start.

It prints p50/p95 of each and the ratio. Target: bootstrap p50 under 2 s. It asserts nothing;
the host, its gateway and volume, the daemon, Postgres and the simulated internet are removed at
the end, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import attrs
import httpx
import trio

from bench.api import (
    create_admin,
    daemon,
    free_port,
    interruptible,
    main_for,
    p50,
    p95,
    private_cluster,
    scratch_dir,
    verdict,
)
from bench.concurrent_starts import admin_client, wait_status
from bench.simnet import add_exit, clear_daemon_agent, daemon_env, simulated_internet
from tests.integration.netsim import SimInternet
from tests.integration.sshclient import PtySession

RUNS = 10
TARGET_P50_S = 2.0
USERNAME = "bootbench"
PROMPT = r"0:claude"  # tmux's status line: attached to the box's session
RUNNING = "starting: host.running"
POLL_S = 0.01
STEP_TIMEOUT_S = 120


@attrs.define
class Samples:
    bootstrap: list[float] = attrs.field(factory=list)
    running: list[float] = attrs.field(factory=list)  # until the script saw host.running
    start_task: list[float] = attrs.field(factory=list)


@attrs.frozen
class Target:
    url: str
    user_password: str
    host_id: str
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "HOME": str(self.workdir), "LANG": "C.UTF-8"}


async def stop(client: httpx.AsyncClient, host_id: str) -> None:
    answer = await client.post(f"/v1/admin/hosts/{host_id}/stop")
    if answer.status_code != 202:
        raise RuntimeError(f"stop {host_id}: {answer.status_code} {answer.text}")
    with trio.fail_after(STEP_TIMEOUT_S):
        await wait_status(client, host_id, "stopped")


async def start_task(client: httpx.AsyncClient, host_id: str) -> float:
    began = time.perf_counter()
    answer = await client.post(f"/v1/admin/hosts/{host_id}/start")
    if answer.status_code != 202:
        raise RuntimeError(f"start {host_id}: {answer.status_code} {answer.text}")
    with trio.fail_after(STEP_TIMEOUT_S):
        return await wait_status(client, host_id, "running", POLL_S) - began


def _end(session: PtySession) -> None:
    """The script, curl, ssh: every process of the pty's session (its leader's group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(session.process.pid, signal.SIGTERM)


async def bootstrap(target: Target) -> tuple[float, float]:
    """Seconds from the typed password to ``host.running`` and to the box's prompt."""
    command = f"curl -fsSL {target.url}/v1/bootstrap/script | sh -s -- {USERNAME}"
    async with trio.open_nursery() as nursery:
        session = await PtySession.start(nursery, ["sh", "-c", command], target.env)
        try:
            await session.expect(f"Password for {USERNAME}: ")
            await session.send(target.user_password.encode() + b"\r")
            began = time.perf_counter()
            await session.expect(RUNNING, timeout=STEP_TIMEOUT_S)
            running = time.perf_counter() - began
            await session.expect(PROMPT, timeout=STEP_TIMEOUT_S)
            return running, time.perf_counter() - began
        finally:
            _end(session)
            await session.close()


async def set_up(client: httpx.AsyncClient, sim: SimInternet, url: str, workdir: Path) -> Target:
    await add_exit(client, sim)  # the daemon binds new hosts to it (egress.default_exit)
    user_password = secrets.token_urlsafe(18)
    answer = await client.post(
        "/v1/admin/users", json={"username": USERNAME, "password": user_password}
    )
    if answer.status_code != 201:
        raise RuntimeError(f"creating {USERNAME}: {answer.status_code} {answer.text}")
    answer = await client.post(
        "/v1/admin/hosts", json={"user_id": answer.json()["id"], "disk_gb": 1}
    )
    if answer.status_code != 201:
        raise RuntimeError(f"creating a host: {answer.status_code} {answer.text}")
    host_id = answer.json()["id"]
    print("creating the host (the first run builds the box image) ...", flush=True)
    with trio.fail_after(1800):
        await wait_status(client, host_id, "stopped")
    await start_task(client, host_id)  # warm: first boot makes the box's host keys
    return Target(url, user_password, host_id, workdir)


async def measure(port: int, password: str, sim: SimInternet, workdir: Path, runs: int) -> Samples:
    samples = Samples()
    async with interruptible() as work, admin_client(port, password) as client:
        with work:
            target = await set_up(client, sim, f"http://127.0.0.1:{port}", workdir)
            for run in range(runs):
                for step in ("bootstrap", "start") if run % 2 == 0 else ("start", "bootstrap"):
                    await stop(client, target.host_id)
                    if step == "start":
                        samples.start_task.append(await start_task(client, target.host_id))
                    else:
                        running, prompt = await bootstrap(target)
                        samples.running.append(running)
                        samples.bootstrap.append(prompt)
                print(
                    f"  run {run + 1:2d}: bootstrap {samples.bootstrap[-1]:.3f} s"
                    f" (host.running at {samples.running[-1]:.3f} s),"
                    f" start task {samples.start_task[-1]:.3f} s",
                    flush=True,
                )
    return samples


def report(samples: Samples) -> None:
    rows = (
        ("bootstrap: password -> box prompt", samples.bootstrap),
        ("  of which: password -> host.running", samples.running),
        ("baseline: POST start -> running", samples.start_task),
    )
    print()
    print(f"{'measure':<40} {'n':>3} {'p50 s':>8} {'p95 s':>8}")
    for name, values in rows:
        print(f"{name:<40} {len(values):>3} {p50(values):>8.3f} {p95(values):>8.3f}")
    boot, base = p50(samples.bootstrap), p50(samples.start_task)
    print(f"bootstrap overhead (p50 difference): {boot - base:.3f} s")
    print(f"ratio p50 bootstrap / start task: {boot / base:.2f}x")
    print(
        f"target bootstrap p50 < {TARGET_P50_S:.0f} s: {boot:.3f} s  {verdict(boot < TARGET_P50_S)}"
    )


def run(runs: int) -> None:
    password = secrets.token_urlsafe(18)
    with (
        scratch_dir() as root,
        private_cluster(root) as cluster,
        simulated_internet() as sim,
    ):
        port, ssh_port = free_port(), free_port()
        env = {**daemon_env(sim), "CLOUDCLAUDE_SSH__PORT": str(ssh_port)}
        workdir = root / "client"
        workdir.mkdir()
        print(f"scratch {root}; daemon on 127.0.0.1:{port}, SSH on {ssh_port}", flush=True)
        try:
            with daemon(cluster, root, port, env):
                create_admin(root, password)
                samples = trio.run(measure, port, password, sim, workdir, runs)
        finally:
            clear_daemon_agent(root)  # the host, its gateway and its volume
    report(samples)


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    return main_for(lambda: run(runs))


if __name__ == "__main__":
    sys.exit(main())
