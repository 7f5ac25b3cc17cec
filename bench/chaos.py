"""A chaos campaign: host tasks through the real daemon while its processes are killed.

``python -m bench.chaos [--seed S] [--tasks 100] [--hosts 10] [--faults N]`` starts a private
Postgres, the simulated internet, a real ``cloudclaude-agent`` on a socket and the real daemon
(``bench.chaos_daemon``), then sends TASKS host tasks (create, start, stop, rebuild, delete)
over HOSTS hosts through the admin API. The plan (which host, which action, where each fault
falls, what it kills and how long after the request) comes from the seed. At each fault it
kill -9s the daemon, the agent or Postgres and starts it again as ``make up`` would.

Then it waits for every task to end and for the reconciler to run, and counts: tasks lost
(the API forgot a task it accepted) or stuck (not finished), hosts neither in their desired
state nor ``failed`` with a code, orphans of this instance (``bench.chaos_checks``) and home
volumes lost (a host not purged without its disk image). It prints those counts and the time
to converge; everything it started is stopped and removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import httpx

from bench.api import ADMIN, create_admin, free_port, scratch_dir
from bench.chaos_checks import Orphans, count_orphans
from bench.chaos_dockerd import PrivateDockerd
from bench.chaos_stack import RECONCILE_PERIOD_S, ChaosStack
from bench.simnet import simulated_internet
from tests.integration.netsim import SimInternet

TARGETS = ("daemon", "agent", "postgres", "dockerd")
#: With the shared dockerd, which is never killed.
SHARED_TARGETS = TARGETS[:3]
ACTIVE = ("pending", "running")
SETTLED = {"running": ("running",), "stopped": ("stopped",), "deleted": ("deleted",)}
TASK_WAIT_S = 240.0
CONVERGE_S = 240.0
CALL_S = 120.0


@attrs.define
class Fault:
    step: int
    target: str
    delay_s: float


@attrs.define
class Result:
    tasks: int = 0
    refused: int = 0
    lost: list[str] = attrs.field(factory=list)
    stuck: list[str] = attrs.field(factory=list)
    failed_tasks: int = 0
    hosts_wrong: list[str] = attrs.field(factory=list)
    hosts_failed: int = 0
    volumes_lost: list[str] = attrs.field(factory=list)
    orphans: Orphans | None = None
    converge_s: float = 0.0
    faults: list[str] = attrs.field(factory=list)
    restarts: dict[str, int] = attrs.field(factory=dict)
    failures: list[str] = attrs.field(factory=list)

    def ok(self) -> bool:
        return not (
            self.lost
            or self.stuck
            or self.hosts_wrong
            or self.volumes_lost
            or (self.orphans is not None and self.orphans.total())
        )


def plan_faults(
    rng: random.Random, tasks: int, faults: int, targets: tuple[str, ...] = TARGETS
) -> list[Fault]:
    steps = sorted(rng.sample(range(1, tasks), min(faults, tasks - 1)))
    return [Fault(step, rng.choice(targets), round(rng.uniform(0.0, 1.5), 2)) for step in steps]


@attrs.define
class Campaign:
    stack: ChaosStack
    seed: int
    tasks: int
    hosts: int
    faults: list[Fault]
    rng: random.Random
    client: httpx.Client
    user_id: str = ""
    slots: list[str | None] = attrs.field(factory=list)
    last_task: dict[str, str] = attrs.field(factory=dict)
    task_ids: list[str] = attrs.field(factory=list)
    purged: set[str] = attrs.field(factory=set)
    deleted: set[str] = attrs.field(factory=set)
    result: Result = attrs.field(factory=Result)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call, retried (and dead processes started again) until the daemon answers."""
        deadline = time.monotonic() + CALL_S
        while True:
            try:
                answer = self.client.request(method, path, **kwargs)
                if answer.status_code < 500:
                    return answer
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer within {CALL_S:.0f} s")
            self.stack.revive()
            time.sleep(0.3)

    def login(self, password: str) -> None:
        body = {"username": ADMIN, "password": password}
        token = self.call("POST", "/v1/auth/login", json=body).json()["token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def setup(self, sim: SimInternet) -> None:
        answer = self.call("POST", "/v1/admin/egress-ips", json=sim.exit_body("direct"))
        assert answer.status_code == 201, answer.text
        body = {"username": "chaos", "max_hosts": min(100, self.hosts + self.tasks)}
        answer = self.call("POST", "/v1/admin/users", json=body)
        assert answer.status_code == 201, answer.text
        self.user_id = answer.json()["id"]
        self.slots = [None] * self.hosts

    def wait_task(self, task_id: str, timeout: float = TASK_WAIT_S) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.call("GET", f"/v1/admin/tasks/{task_id}")
            if answer.status_code == 404:
                return None
            task: dict[str, Any] = answer.json()
            if task["status"] not in ACTIVE or time.monotonic() > deadline:
                return task
            time.sleep(0.2)

    def wait_host_idle(self, host_id: str) -> None:
        """Until no task of the host is active (its own, or one the reconciler queued)."""
        deadline = time.monotonic() + TASK_WAIT_S
        while time.monotonic() < deadline:
            answer = self.call("GET", "/v1/admin/tasks", params={"host_id": host_id})
            active = [t for t in answer.json()["items"] if t["status"] in ACTIVE]
            if not active:
                return
            self.wait_task(active[0]["id"], deadline - time.monotonic())

    def choose(self, slot: int) -> str:
        host_id = self.slots[slot]
        if host_id is None:
            return "create"
        desired = self.call("GET", f"/v1/admin/hosts/{host_id}").json()["desired_state"]
        actions = ["stop", "rebuild", "delete"] if desired == "running" else ["start", "delete"]
        weights = [5, 3, 1] if desired == "running" else [6, 1]
        return self.rng.choices(actions, weights)[0]

    def submit(self, slot: int, action: str) -> str | None:
        host_id = self.slots[slot]
        if action == "create":
            body = {"user_id": self.user_id, "disk_gb": 1, "memory_mb": 256}
            answer = self.call("POST", "/v1/admin/hosts", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"create: {answer.status_code} {answer.text}")
            self.slots[slot] = answer.json()["id"]
            return str(answer.json()["task_id"])
        assert host_id is not None
        self.wait_host_idle(host_id)
        if action == "delete":
            purge = self.rng.random() < 0.5
            answer = self.call("DELETE", f"/v1/admin/hosts/{host_id}", params={"purge": purge})
        else:
            answer = self.call("POST", f"/v1/admin/hosts/{host_id}/{action}")
        if answer.status_code != 202:
            self.result.refused += 1
            print(f"  {action} {host_id[:8]} refused: {answer.status_code} {answer.text.strip()}")
            return None
        if action == "delete":
            self.deleted.add(host_id)
            if purge:
                self.purged.add(host_id)
            self.slots[slot] = None
        return str(answer.json()["task_id"])

    def run(self) -> None:
        faults = {fault.step: fault for fault in self.faults}
        for step in range(self.tasks):
            slot = step if step < self.hosts else self.rng.randrange(self.hosts)
            action = self.choose(slot)
            host_id = self.slots[slot]
            task_id = self.submit(slot, action)
            if task_id is not None:
                self.task_ids.append(task_id)
                self.result.tasks += 1
            print(f"step {step:3d}: {action:8} {(host_id or self.slots[slot] or '')[:8]}")
            fault = faults.get(step)
            if fault is not None:
                time.sleep(fault.delay_s)
                print(f"  fault: kill -9 {fault.target} ({fault.delay_s:.2f} s after)")
                self.stack.kill(fault.target)
                revived = self.stack.revive()
                self.result.faults.append(f"step {step}: {fault.target}")
                print(f"  restarted: {', '.join(revived)}")

    def converge(self) -> None:
        """Wait for every task, then for reconciler rounds, until the checks hold."""
        began = time.monotonic()
        deadline = began + CONVERGE_S
        while True:
            self.stack.revive()
            self.check(final=False)
            if self.result.ok() or time.monotonic() > deadline:
                break
            time.sleep(RECONCILE_PERIOD_S)
        self.result.converge_s = time.monotonic() - began
        self.check(final=True)

    def check(self, *, final: bool) -> None:
        result = self.result
        result.lost, result.stuck, result.failed_tasks = [], [], 0
        result.failures = []
        for task_id in self.task_ids:
            task = self.wait_task(task_id, TASK_WAIT_S if final else 0.0)
            if task is None:
                result.lost.append(task_id)
            elif task["status"] in ACTIVE:
                result.stuck.append(f"{task_id} {task['status']}")
            elif task["status"] == "failed":
                result.failed_tasks += 1
                result.failures.append(f"task {task['kind']} {task_id[:8]}: {task['error_code']}")
        time.sleep(2 * RECONCILE_PERIOD_S)  # at least one reconcile round after the tasks
        result.hosts_wrong, result.hosts_failed, result.volumes_lost = [], 0, []
        running: set[str] = set()
        live: set[str] = set()
        every = [h for h in self.slots if h is not None] + sorted(self.deleted)
        for host_id in every:
            disk = self.stack.agent_state / "volumes" / f"{host_id}.ext4"
            if host_id not in self.purged and not disk.exists():
                result.volumes_lost.append(host_id)
            answer = self.call("GET", f"/v1/admin/hosts/{host_id}")
            if answer.status_code == 404:
                if host_id not in self.deleted:
                    result.hosts_wrong.append(f"{host_id} gone without a delete")
                continue
            host = answer.json()
            desired, status = host["desired_state"], host["status"]
            if host_id in self.deleted and desired != "deleted":
                result.hosts_wrong.append(f"{host_id} deleted but desired {desired}")
            if status != "deleted":
                live.add(host_id)
            if desired == "running" and status in ("running", "degraded"):
                running.add(host_id)
            if status == "failed" and host["error_code"]:
                result.hosts_failed += 1
                result.failures.append(f"host {host_id[:8]} failed: {host['error_code']}")
            elif status not in SETTLED.get(desired, ()):
                result.hosts_wrong.append(f"{host_id} {status} (desired {desired})")
        result.orphans = count_orphans(
            self.stack.settings(), self.stack.agent_state, self.stack.instance, running, live
        )


def report(result: Result, seed: int) -> None:
    restarts = ", ".join(f"{name} {n}" for name, n in sorted(result.restarts.items()))
    print()
    print(f"seed {seed}: {result.tasks} tasks accepted, {result.refused} refused")
    print(f"faults ({len(result.faults)}): {'; '.join(result.faults)}")
    print(
        f"tasks lost: {len(result.lost)}  stuck: {len(result.stuck)}  failed: {result.failed_tasks}"
    )
    for item in result.lost + result.stuck + result.failures:
        print(f"  {item}")
    print(
        f"hosts not in their desired state: {len(result.hosts_wrong)}"
        f"  (failed with a code: {result.hosts_failed})"
    )
    for item in result.hosts_wrong:
        print(f"  {item}")
    orphans = result.orphans
    counts = orphans.counts() if orphans else {}
    print("orphans: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if orphans is not None and orphans.total():
        print(f"  {attrs.asdict(orphans)}")
    print(f"home volumes lost: {len(result.volumes_lost)} {result.volumes_lost or ''}")
    print(f"restarts: {restarts}")
    print(f"time to converge: {result.converge_s:.1f} s")
    print("RESULT: " + ("PASS" if result.ok() else "FAIL"))


def campaign(
    root: Path,
    sim: SimInternet,
    *,
    seed: int,
    tasks: int,
    hosts: int,
    faults: int,
    private_dockerd: bool = True,
) -> Result:
    """Run the campaign in ``root`` (a scratch directory the postgres user can traverse)."""
    rng = random.Random(seed)
    dockerd = PrivateDockerd() if private_dockerd else None
    targets = TARGETS if private_dockerd else SHARED_TARGETS
    stack = ChaosStack(root, sim, free_port(), dockerd)
    password = secrets.token_urlsafe(18)
    try:
        stack.start()
        create_admin(root, password)
        base = f"http://127.0.0.1:{stack.port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            run = Campaign(
                stack, seed, tasks, hosts, plan_faults(rng, tasks, faults, targets), rng, client
            )
            run.login(password)
            run.setup(sim)
            run.run()
            run.converge()
            run.result.restarts = dict(stack.restarts)
            return run.result
    finally:
        for problem in stack.close():
            print(f"could not remove {problem}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument(
        "--shared-dockerd",
        action="store_true",
        help="run boxes on the shared dockerd (then dockerd is never killed)",
    )
    args = parser.parse_args()
    with scratch_dir() as root, simulated_internet() as sim:
        result = campaign(
            root,
            sim,
            seed=args.seed,
            tasks=args.tasks,
            hosts=args.hosts,
            faults=args.faults,
            private_dockerd=not args.shared_dockerd,
        )
    report(result, args.seed)
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
