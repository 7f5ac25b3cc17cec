"""The JSON API against the real daemon: login and user-list latency, idle memory.

``python -m bench.api`` starts a private Postgres cluster in a scratch directory under /tmp,
runs the real ``cloudclaude run`` as a subprocess against it, creates an admin with
``cloudclaudectl``, inserts 1,000 users and then measures, with one keep-alive HTTP client:

- ``POST /v1/auth/login`` and ``GET /v1/admin/users?limit=50`` (p50/p95 over 500 requests);
- the daemon's resident memory (VmRSS) when idle, before and after the load;
- ``GET /v1/admin/hosts?limit=50`` with 1,000 hosts in the database, over plain HTTP and over
  TLS (the local CA's certificate), each with one kept-alive connection, in the same run: a
  second daemon with ``web.tls = "auto"`` serves the same database next to the first one
  (``web.tls = "off"``), and the two are sampled in alternating order, so drift in the
  machine's load hits both alike. It prints p50/p95 of each and the ratio TLS ÷ plain.

Baselines from the same run, so the figures read as ratios on any machine: ``GET /healthz`` (a
trivial request through the same stack, one ``SELECT 1`` inside), a bare ``SELECT 1`` round
trip through the daemon's own database layer (asyncpg under trio-asyncio), and one argon2id
verification with the daemon's default parameters (what a login must spend).

It prints a table and the targets with PASS/MISS; it asserts nothing. Everything it starts is
stopped in ``finally`` blocks, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import argon2
import httpx
import trio
import trio_asyncio

from cloudclaude.core.settings import AuthSettings
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from tests.integration.processes import stop

REQUESTS = 500
WARMUP = 20
USERS = 1_000
IDLE_S = 5.0
DATABASE = "cloudclaude"
ADMIN = "benchadmin"
LIST_P50_TARGET_MS = 10.0
HOST_LIST = "/v1/admin/hosts?limit=50"
#: The host list's transports, in the order the tables print them.
TRANSPORTS = ("plain HTTP", "TLS")
IDLE_RSS_TARGET_MB = 120.0
VENV_BIN = Path(sys.executable).parent


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cc-bench-", dir="/tmp"))
    path.chmod(0o711)  # the postgres user must traverse it to reach its data directory
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(root: Path) -> Iterator[PrivateCluster]:
    cluster = PrivateCluster(root / "postgres", root / "run" / "postgres")
    try:
        cluster.ensure_initialised()
        cluster.start()
        cluster.ensure_database(DATABASE)
        yield cluster
    finally:
        cluster.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def daemon(
    cluster: PrivateCluster,
    root: Path,
    port: int,
    extra_env: Mapping[str, str] | None = None,
    *,
    tls: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """``cloudclaude run`` in its own session (Ctrl-C reaches only us; we send it SIGTERM).

    Plain HTTP unless ``tls`` (then HTTPS with the local CA in ``root/tls``, see ``ca_file``).
    ``extra_env`` adds or overrides settings (``CLOUDCLAUDE_…`` variables).
    """
    env = {
        **os.environ,
        "CLOUDCLAUDE_DATABASE__URL": cluster.dsn(DATABASE),
        "CLOUDCLAUDE_STATE_DIR": str(root),
        "CLOUDCLAUDE_AGENT__MODE": "embedded",
        "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
        "CLOUDCLAUDE_WEB__PORT": str(port),
        "CLOUDCLAUDE_CTL__SOCKET": str(root / "ctl.sock"),
        "CLOUDCLAUDE_SSH__HOST": "127.0.0.1",
        "CLOUDCLAUDE_SSH__PORT": "0",
        "CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_ADDRESS": "100000",
        "CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_USER": "100000",
        **({} if tls else {"CLOUDCLAUDE_WEB__TLS": "off"}),
        **(extra_env or {}),
    }
    env.pop("CLOUDCLAUDE_CONFIG", None)
    log_path = root / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "cloudclaude"), "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        scheme = "https" if tls else "http"
        ca = ca_file(root) if tls else None
        wait_healthy(proc, f"{scheme}://127.0.0.1:{port}/healthz", log_path, ca)
        yield proc
    finally:
        stop(proc)


def ca_file(root: Path) -> Path:
    """The local CA a daemon with state directory ``root`` signs its TLS certificate with."""
    return root / "tls" / "ca.pem"


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, ca: Path | None = None
) -> None:
    """Wait for ``url`` to answer 200 (over TLS verified against ``ca`` once it exists)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the daemon exited with {proc.returncode}:\n{tail}")
        if ca is None or ca.exists():
            verify: ssl.SSLContext | bool = True
            if ca is not None:
                verify = ssl.create_default_context(cafile=str(ca))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, verify=verify).status_code == 200:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"the daemon did not answer {url} within 60 s")


def create_admin(root: Path, password: str) -> None:
    subprocess.run(
        [
            str(VENV_BIN / "cloudclaudectl"),
            "--socket",
            str(root / "ctl.sock"),
            "users",
            "add",
            ADMIN,
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
    )


async def insert_users(dsn: str, password_hash: str) -> None:
    # Hashing 1,000 passwords with argon2 would take a minute and measure nothing of interest:
    # all rows share one precomputed hash and go in with a single INSERT.
    async with trio_asyncio.open_loop(), Database.open(dsn, max_size=1) as db:
        await db.execute(
            "INSERT INTO users (username, password_hash, role)"
            " SELECT 'bench' || lpad(i::text, 5, '0'), $1, 'user'"
            " FROM generate_series(1, $2::integer) AS i",
            password_hash,
            USERS,
        )


def timed(fn: Callable[[], object], n: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of ``n`` calls of ``fn`` after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def expect(status: int) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        if response.status_code != status:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")

    return check


async def _select_one(dsn: str, n: int) -> list[float]:
    async with trio_asyncio.open_loop(), Database.open(dsn, max_size=1) as db:
        for _ in range(WARMUP):
            await db.fetchval("SELECT 1")
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await db.fetchval("SELECT 1")
            samples.append((time.perf_counter() - start) * 1000)
        return samples


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[94]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run() -> None:
    password = secrets.token_urlsafe(18)
    auth = AuthSettings()
    hasher = argon2.PasswordHasher(
        time_cost=auth.argon2_time_cost,
        memory_cost=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
        type=argon2.Type.ID,
    )
    user_password = secrets.token_urlsafe(18)
    user_hash = hasher.hash(user_password)
    with scratch_dir() as root, private_cluster(root) as cluster:
        port = free_port()
        print(f"scratch {root}; daemon on 127.0.0.1:{port}", flush=True)
        with daemon(cluster, root, port) as proc:
            time.sleep(IDLE_S)
            rss_start = rss_mb(proc.pid)
            create_admin(root, password)
            trio.run(insert_users, cluster.dsn(DATABASE), user_hash)
            print(f"created {ADMIN} and {USERS} users; measuring", flush=True)

            results: dict[str, list[float]] = {}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                ok = expect(200)
                login_body = {"username": ADMIN, "password": password}
                results["POST /v1/auth/login"] = timed(
                    lambda: ok(client.post("/v1/auth/login", json=login_body)), REQUESTS
                )
                token = client.post("/v1/auth/login", json=login_body).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                results["GET /v1/admin/users?limit=50"] = timed(
                    lambda: ok(client.get("/v1/admin/users?limit=50", headers=headers)), REQUESTS
                )
                total = client.get("/v1/admin/users?limit=1", headers=headers).json()["total"]
                results["GET /healthz (baseline)"] = timed(
                    lambda: ok(client.get("/healthz")), REQUESTS
                )
            results["SELECT 1 via asyncpg (baseline)"] = trio.run(
                _select_one, cluster.dsn(DATABASE), REQUESTS
            )
            results["argon2id verify (baseline)"] = timed(
                lambda: hasher.verify(user_hash, user_password), 20, warmup=2
            )
            time.sleep(IDLE_S)
            rss_after = rss_mb(proc.pid)
            print("measuring the host list over plain HTTP and TLS", flush=True)
            # bench.api_tls builds on this module, so it is imported only when needed.
            from bench.api_tls import host_list_plain_and_tls, report_host_list

            hosts, host_total = host_list_plain_and_tls(cluster, root, port, password)
    report(results, total, rss_start, rss_after)
    report_host_list(hosts, host_total)


def report(results: dict[str, list[float]], total: int, rss_start: float, rss_after: float) -> None:
    print()
    print(f"{USERS} bench users + 1 admin in the database (API total: {total})")
    print(f"{'measure':<36} {'n':>5} {'p50 ms':>9} {'p95 ms':>9}")
    for name, samples in results.items():
        print(f"{name:<36} {len(samples):>5} {p50(samples):>9.2f} {p95(samples):>9.2f}")
    print(f"{'daemon idle RSS after start':<36} {rss_start:>21.1f} MB")
    print(f"{'daemon idle RSS after the load':<36} {rss_after:>21.1f} MB")

    login = p50(results["POST /v1/auth/login"])
    listing = p50(results["GET /v1/admin/users?limit=50"])
    healthz = p50(results["GET /healthz (baseline)"])
    select = p50(results["SELECT 1 via asyncpg (baseline)"])
    verify = p50(results["argon2id verify (baseline)"])
    print()
    print("ratios (p50)")
    print(f"  users list / healthz        {listing / healthz:6.2f}x")
    print(f"  users list / SELECT 1       {listing / select:6.2f}x")
    print(f"  healthz / SELECT 1          {healthz / select:6.2f}x")
    print(f"  login / argon2id verify     {login / verify:6.2f}x")
    print()
    print("targets")
    print(
        f"  users list p50 < {LIST_P50_TARGET_MS:.0f} ms       {listing:8.2f} ms"
        f"  {verdict(listing < LIST_P50_TARGET_MS)}"
    )
    idle = max(rss_start, rss_after)
    print(
        f"  idle RSS < {IDLE_RSS_TARGET_MB:.0f} MB           {idle:8.1f} MB"
        f"  {verdict(idle < IDLE_RSS_TARGET_MB)}"
    )


async def _cancel_on_signal(
    work: trio.CancelScope,
    signalled: list[int],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if not signalled:
                print("interrupted; cleaning up ...", file=sys.stderr, flush=True)
            signalled.append(signum)
            work.cancel()


@contextlib.asynccontextmanager
async def interruptible() -> AsyncIterator[trio.CancelScope]:
    """A cancel scope that SIGINT/SIGTERM cancel, and KeyboardInterrupt once the block is left.

    Put only the measuring inside the scope, and the clean-up (agent, database) outside it, so
    an interrupt cancels the work but never the removal of what the benchmark made. Leave the
    ``async with`` outside trio-asyncio's loop, which would wrap the KeyboardInterrupt.
    """
    work = trio.CancelScope()
    signalled: list[int] = []
    async with trio.open_nursery() as guard:
        await guard.start(_cancel_on_signal, work, signalled)
        yield work
        guard.cancel_scope.cancel()
    if signalled:
        raise KeyboardInterrupt


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main_for(run: Callable[[], None]) -> int:
    """Run a benchmark; Ctrl-C and SIGTERM both unwind through the finally blocks that stop
    the daemon and the cluster (also from a shell that ignores SIGINT for background jobs).
    Inside ``trio.run``, ``interruptible`` takes the signals over."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run()
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return 0


def main() -> int:
    return main_for(run)


if __name__ == "__main__":
    sys.exit(main())
