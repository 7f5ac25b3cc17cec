"""``GET /v1/admin/hosts?limit=50`` with 1,000 hosts in the database, against the real daemon.

``python -m bench.api_hosts`` starts a private Postgres and ``cloudclaude run`` (as
``bench.api`` does), inserts one user owning 1,000 hosts straight into the database, then takes
p50/p95 over 500 requests of the host list with one keep-alive client. Baseline from the same
run: ``GET /healthz`` through the same stack. Target: host list p50 under 10 ms. It asserts
nothing and cleans up after itself, also on Ctrl-C.
"""

from __future__ import annotations

import secrets
import sys

import httpx
import trio
import trio_asyncio

from bench.api import (
    ADMIN,
    DATABASE,
    REQUESTS,
    create_admin,
    daemon,
    expect,
    free_port,
    main_for,
    p50,
    p95,
    private_cluster,
    scratch_dir,
    timed,
    verdict,
)
from cloudclaude.db.pool import Database

HOSTS = 1_000
TARGET_P50_MS = 10.0


async def insert_hosts(dsn: str) -> None:
    async with trio_asyncio.open_loop(), Database.open(dsn, max_size=1) as db:
        owner = await db.fetchval(
            "INSERT INTO users (username, password_hash, role, max_hosts)"
            " VALUES ('hostowner', 'x', 'user', $1) RETURNING id",
            HOSTS,
        )
        await db.execute(
            "INSERT INTO hosts (short_id, user_id, status, box_public_key)"
            " SELECT 'b' || lpad(n::text, 7, '0'), $1,"
            " (ARRAY['running', 'stopped', 'failed'])[1 + n % 3], 'ssh-ed25519 AAAA bench'"
            " FROM generate_series(1, $2) AS n",
            owner,
            HOSTS,
        )


def run() -> None:
    password = secrets.token_urlsafe(18)
    with scratch_dir() as root, private_cluster(root) as cluster:
        port = free_port()
        with daemon(cluster, root, port):
            create_admin(root, password)
            trio.run(insert_hosts, cluster.dsn(DATABASE))
            ok = expect(200)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                body = {"username": ADMIN, "password": password}
                token = client.post("/v1/auth/login", json=body).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                listing = timed(
                    lambda: ok(client.get("/v1/admin/hosts?limit=50", headers=headers)), REQUESTS
                )
                total = client.get("/v1/admin/hosts?limit=1", headers=headers).json()["total"]
                healthz = timed(lambda: ok(client.get("/healthz")), REQUESTS)
    print()
    print(f"{HOSTS} hosts in the database (API total: {total})")
    print(f"{'measure':<36} {'n':>5} {'p50 ms':>9} {'p95 ms':>9}")
    for name, samples in (
        ("GET /v1/admin/hosts?limit=50", listing),
        ("GET /healthz (baseline)", healthz),
    ):
        print(f"{name:<36} {len(samples):>5} {p50(samples):>9.2f} {p95(samples):>9.2f}")
    print(f"ratio p50 host list / healthz: {p50(listing) / p50(healthz):.2f}x")
    print(
        f"target host list p50 < {TARGET_P50_MS:.0f} ms: {p50(listing):.2f} ms"
        f"  {verdict(p50(listing) < TARGET_P50_MS)}"
    )


def main() -> int:
    return main_for(run)


if __name__ == "__main__":
    sys.exit(main())
