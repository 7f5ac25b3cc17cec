"""The host list at 1,000 hosts over plain HTTP and over TLS, in the same run (part of
``bench.api``): each transport on one kept-alive connection, alternating, with the ratio."""

from __future__ import annotations

import contextlib
import ssl
import time
from pathlib import Path

import httpx
import trio

from bench.api import (
    ADMIN,
    DATABASE,
    HOST_LIST,
    LIST_P50_TARGET_MS,
    REQUESTS,
    TRANSPORTS,
    WARMUP,
    ca_file,
    daemon,
    expect,
    free_port,
    p50,
    p95,
    verdict,
)
from bench.api_hosts import insert_hosts
from bench.ratios import ratio, rotated
from cloudclaude.db.cluster import PrivateCluster


def host_list_plain_and_tls(
    cluster: PrivateCluster, root: Path, plain_port: int, password: str
) -> tuple[dict[str, list[float]], int]:
    """Milliseconds of the host list at 1,000 hosts per transport, and the API's total.

    Plain HTTP goes to the daemon on ``plain_port``; TLS to a second daemon started here on the
    same database with its own state directory (so its own local CA). One client per
    transport keeps its connection alive; each turn takes one sample of each transport, in
    alternating order (``rotated``)."""
    trio.run(insert_hosts, cluster.dsn(DATABASE))
    tls_root = root / "tls-daemon"
    tls_root.mkdir()
    tls_port = free_port()
    with daemon(cluster, tls_root, tls_port, tls=True), contextlib.ExitStack() as stack:
        verify = ssl.create_default_context(cafile=str(ca_file(tls_root)))
        clients = {
            "plain HTTP": httpx.Client(base_url=f"http://127.0.0.1:{plain_port}"),
            "TLS": httpx.Client(base_url=f"https://127.0.0.1:{tls_port}", verify=verify),
        }
        for client in clients.values():
            stack.enter_context(client)
        ok = expect(200)
        body = {"username": ADMIN, "password": password}
        tokens = {
            name: client.post("/v1/auth/login", json=body).json()["token"]
            for name, client in clients.items()
        }
        headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}

        def host_list(name: str) -> None:
            ok(clients[name].get(HOST_LIST, headers=headers[name]))

        for _ in range(WARMUP):
            for name in TRANSPORTS:
                host_list(name)
        samples: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
        for turn in range(REQUESTS):
            for name in rotated(TRANSPORTS, turn):
                start = time.perf_counter()
                host_list(name)
                samples[name].append((time.perf_counter() - start) * 1000)
        listed = clients["TLS"].get("/v1/admin/hosts?limit=1", headers=headers["TLS"])
        total = int(listed.json()["total"])
    return samples, total


def report_host_list(samples: dict[str, list[float]], total: int) -> None:
    print()
    print(f"GET {HOST_LIST}, {total} hosts in the database, one kept-alive connection each")
    print(f"{'transport':<36} {'n':>5} {'p50 ms':>9} {'p95 ms':>9}")
    for name in TRANSPORTS:
        runs = samples[name]
        print(f"{name:<36} {len(runs):>5} {p50(runs):>9.2f} {p95(runs):>9.2f}")
    plain, tls = samples["plain HTTP"], samples["TLS"]
    print(
        f"ratio TLS / plain HTTP   p50 {ratio(p50(tls), p50(plain))}"
        f"   p95 {ratio(p95(tls), p95(plain))}"
    )
    print()
    print("targets")
    for name in TRANSPORTS:
        figure = p50(samples[name])
        print(
            f"  host list p50 < {LIST_P50_TARGET_MS:.0f} ms ({name:<10}) {figure:8.2f} ms"
            f"  {verdict(figure < LIST_P50_TARGET_MS)}"
        )
