"""20 hosts started at once from stopped, through the real daemon, until all are ``running``.

``python -m bench.concurrent_starts`` starts a private Postgres, the simulated internet
(``bench.simnet``) and ``cloudclaude run`` (embedded agent, real dockerd, the box image built
first if needed, new hosts bound to the simulated internet's ``direct`` exit, created over the
admin API), creates one user with 20 hosts over the API and waits for their create tasks. Then
it sends the 20 start requests at once and polls until every host is ``running`` (container,
gateway, egress verified, sshd ready): total time and per-host p50/p95 (request to running).

Baseline from the same run: the same 20 stopped containers started with 20 concurrent plain
``docker start`` (CLI) calls, until all return. Target: all 20 running within 20 s on 2 cores.
It asserts nothing; hosts are deleted (with their gateways and volumes) at the end, also on
Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import trio

from bench.api import (
    ADMIN,
    create_admin,
    daemon,
    free_port,
    main_for,
    p50,
    p95,
    private_cluster,
    scratch_dir,
    verdict,
)
from bench.simnet import add_exit, clear_daemon_agent, daemon_env, simulated_internet
from tests.integration.netsim import SimInternet

HOSTS = 20
TARGET_S = 20.0


async def wait_status(
    client: httpx.AsyncClient, host_id: str, status: str, interval: float = 0.05
) -> float:
    """``time.perf_counter()`` when the host was first seen in ``status`` (polled)."""
    while True:
        host = (await client.get(f"/v1/admin/hosts/{host_id}")).json()
        if host["status"] == status:
            return time.perf_counter()
        if host["status"] == "failed":
            raise RuntimeError(
                f"host {host_id} failed: {host['error_code']} {host['error_message']}"
            )
        await trio.sleep(interval)


@contextlib.asynccontextmanager
async def admin_client(port: int, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the daemon on ``port``, signed in as the benchmarks' admin."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        body = {"username": ADMIN, "password": password}
        token = (await client.post("/v1/auth/login", json=body)).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def measure(
    port: int, password: str, sim: SimInternet
) -> tuple[float, list[float], list[str]]:
    async with admin_client(port, password) as client:
        await add_exit(client, sim)  # the daemon binds new hosts to it (egress.default_exit)
        user = (
            await client.post("/v1/admin/users", json={"username": "starter", "max_hosts": HOSTS})
        ).json()
        hosts: list[str] = []
        for _ in range(HOSTS):
            created = await client.post(
                "/v1/admin/hosts", json={"user_id": user["id"], "disk_gb": 1, "memory_mb": 512}
            )
            hosts.append(created.json()["id"])
        print("creating 20 hosts (the first run builds the box image) ...", flush=True)
        with trio.fail_after(1800):
            async with trio.open_nursery() as nursery:
                for host_id in hosts:
                    nursery.start_soon(wait_status, client, host_id, "stopped")
        per_host: list[float] = []

        async def start(host_id: str) -> None:
            began = time.perf_counter()
            answer = await client.post(f"/v1/admin/hosts/{host_id}/start")
            if answer.status_code != 202:
                raise RuntimeError(f"start {host_id}: {answer.status_code} {answer.text}")
            per_host.append(await wait_status(client, host_id, "running") - began)

        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for host_id in hosts:
                nursery.start_soon(start, host_id)
        total = time.perf_counter() - began
        for host_id in hosts:
            await client.post(f"/v1/admin/hosts/{host_id}/stop")
        async with trio.open_nursery() as nursery:
            for host_id in hosts:
                nursery.start_soon(wait_status, client, host_id, "stopped")
        return total, per_host, hosts


async def docker_start(host_id: str) -> None:
    await trio.run_process(["docker", "start", f"cloudclaude-{host_id}"], capture_stdout=True)


async def docker_baseline(hosts: list[str]) -> float:
    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for host_id in hosts:
            nursery.start_soon(docker_start, host_id)
    return time.perf_counter() - began


async def delete_all(port: int, password: str, hosts: list[str]) -> None:
    async with admin_client(port, password) as client:
        for host_id in hosts:
            await client.delete(f"/v1/admin/hosts/{host_id}?purge=true")
        async with trio.open_nursery() as nursery:
            for host_id in hosts:
                nursery.start_soon(wait_gone, client, host_id)


async def wait_gone(client: httpx.AsyncClient, host_id: str) -> None:
    for _ in range(1200):
        if (await client.get(f"/v1/admin/hosts/{host_id}")).status_code == 404:
            return
        await trio.sleep(0.1)


def run() -> None:
    password = secrets.token_urlsafe(18)
    hosts: list[str] = []
    results: dict[str, Any] = {}
    with (
        scratch_dir() as root,
        private_cluster(root) as cluster,
        simulated_internet() as sim,
    ):
        port = free_port()
        try:
            with daemon(cluster, root, port, daemon_env(sim)):
                create_admin(root, password)
                total, per_host, hosts = trio.run(measure, port, password, sim)
                baseline = trio.run(docker_baseline, hosts)
                results = {"total": total, "per_host": per_host, "baseline": baseline}
                trio.run(delete_all, port, password, hosts)
        finally:
            clear_daemon_agent(root)  # whatever a crash or Ctrl-C left: boxes, gateways
    total, per_host, baseline = results["total"], results["per_host"], results["baseline"]
    print()
    print(f"{'measure':<48} {'value':>9}")
    print(f"{'20 hosts stopped -> all running (total)':<48} {total:>8.2f}s")
    print(f"{'per host, request -> running, p50':<48} {p50(per_host):>8.2f}s")
    print(f"{'per host, request -> running, p95':<48} {p95(per_host):>8.2f}s")
    print(f"{'baseline: 20 concurrent docker start':<48} {baseline:>8.2f}s")
    print(f"ratio total / docker start baseline: {total / baseline:.2f}x")
    print(f"target all 20 running < {TARGET_S:.0f} s: {verdict(total < TARGET_S)}")
    print(json.dumps({"total_s": round(total, 3), "baseline_s": round(baseline, 3)}))


def main() -> int:
    return main_for(run)


if __name__ == "__main__":
    sys.exit(main())
