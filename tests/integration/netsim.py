"""A simulated internet for egress tests: one network namespace reached over one veth.

Layout (fixed: the agent's egress tests rely on it)::

    root netns                                  netns ccsim-inet
    ccsim-r 198.18.0.1/30  <--- veth --->  ccsim-i 198.18.0.2/30
    198.18.0.0/16 via 198.18.0.2                 lo: 198.18.1.{1,2,3,53,99}, 198.18.2.{1..6}

- whoami (``GET /`` → caller's address, ``GET /bytes/<n>``) on 198.18.1.1-3 port 80, and
  over TLS on 198.18.1.2-3 port 443;
- logging DNS servers on 198.18.1.53 and 198.18.1.99 (UDP and TCP);
- one sing-box serving every exit kind on 198.18.2.1-6, each inbound leaving through a direct
  outbound bound to its own address (that address is the exit's ``expected_ip``);
- exit servers that are not sing-box, on 198.18.2.11-16 (``netsim_others``): microsocks
  (SOCKS5, CONNECT only), tinyproxy (HTTP), ss-server (shadowsocks-libev, with UDP), v2ray
  (vmess, vless) and trojan-gfw, each stoppable and restartable alone (an exit going down
  while hosts use it);
- nft counters of what enters the namespace over the veth, by category.

Only loopback and these namespaces carry test traffic. Everything is removed by ``stop``, and
leftovers of a crashed run with the same prefix are swept by ``start``; a lock file keeps two
test runs from sharing (and sweeping) one instance.

This module runs an instance (``SimInternet``); the pieces live beside it: ``netsim_layout``
(addresses, records, exit servers, ``Names``), ``netsim_plumbing`` (namespace, veth, counters,
sweeping), ``netsim_exits`` (the exits' sing-box and certificate), ``netsim_servers`` (whoami
and DNS, run inside the namespace) and ``netsim_client`` (a DNS query, a local sing-box
client). Their names tests use are importable from here too.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from agent.egress.singbox_binary import sing_box_path
from agent.protocol import messages as m
from tests.integration import runlock
from tests.integration.netsim_client import LocalClient, dns_query, local_client
from tests.integration.netsim_exits import exit_server_config, make_certificate
from tests.integration.netsim_layout import (
    COUNTERS,
    DNS_IP,
    EXIT_SERVERS,
    KINDS,
    MYADDR_NAME,
    OTHER_EXIT_SERVERS,
    RECORDS,
    ROGUE_DNS_IP,
    TLS_WHOAMI_IPS,
    VERIFY_URL,
    WHOAMI_IPS,
    Names,
)
from tests.integration.netsim_others import seen_as, seen_by, server_argv
from tests.integration.netsim_plumbing import (
    START_TIMEOUT_S,
    WORK_ROOT,
    kill_pids,
    netns_pids,
    ns_exec,
    plumb,
    sweep,
)

__all__ = [
    "DNS_IP",
    "KINDS",
    "MYADDR_NAME",
    "OTHER_EXIT_SERVERS",
    "RECORDS",
    "ROGUE_DNS_IP",
    "TLS_WHOAMI_IPS",
    "WHOAMI_IPS",
    "LocalClient",
    "Names",
    "SimInternet",
    "dns_query",
    "local_client",
    "netns_pids",
    "running_sim",
    "seen_by",
    "sweep",
]

#: How long ``start`` waits for another test run to release the instance.
LOCK_TIMEOUT_S = 900.0


class SimInternet:
    """One running simulated internet; ``start`` it, use it, ``stop`` it (idempotent)."""

    def __init__(self, names: Names | None = None) -> None:
        self.names = names or Names()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.names.prefix}-", dir=WORK_ROOT))
        self.dns_log = self.workdir / "dns.jsonl"
        self.cert_path = self.workdir / "sim-cert.pem"
        self._processes: list[subprocess.Popen[bytes]] = []
        #: The running servers of ``OTHER_EXIT_SERVERS`` by name.
        self._others: dict[str, subprocess.Popen[bytes]] = {}
        self._lock: contextlib.ExitStack | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._take_lock()
        # Made before the lock was ours: another run's sweep may have removed it meanwhile.
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            sweep(self.names, keep=self.workdir)
            plumb(self.names, self.workdir)
            cert, key = make_certificate(self.workdir)
            self._start_servers(cert, key)
            self._start_exits(cert, key)
            for name in OTHER_EXIT_SERVERS:
                self.start_server(name)
            self.reset_counters()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        pids = [process.pid for process in self._processes]
        kill_pids(pids)
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)
        self._processes.clear()
        self._others.clear()
        sweep(self.names, keep=self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None

    def _take_lock(self) -> None:
        lock = contextlib.ExitStack()
        try:
            lock.enter_context(runlock.held(self.names.prefix, LOCK_TIMEOUT_S))
        except RuntimeError:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self._lock = lock

    def _spawn(
        self, args: list[str], out: int | IO[bytes], err: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.names.netns, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def _start_servers(self, cert: Path, key: Path) -> None:
        config = self.workdir / "servers.json"
        config.write_text(
            json.dumps(
                {
                    "records": RECORDS,
                    "myaddr_name": MYADDR_NAME,
                    "dns_log": str(self.dns_log),
                    "dns": [DNS_IP, ROGUE_DNS_IP],
                    "http": list(WHOAMI_IPS),
                    "https": list(TLS_WHOAMI_IPS),
                    "cert": str(cert),
                    "key": str(key),
                }
            )
        )
        self.dns_log.touch()
        script = Path(__file__).with_name("netsim_servers.py")
        errors = self.workdir / "servers.err"
        with errors.open("wb") as err:
            args = [sys.executable, str(script), str(config)]
            process = self._spawn(args, subprocess.PIPE, err)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        line = process.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            text = errors.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"netsim servers did not start: {line!r} {text}")

    def _start_exits(self, cert: Path, key: Path) -> None:
        log = self.workdir / "exits.log"
        config = self.workdir / "exits.json"
        config.write_text(json.dumps(exit_server_config(cert, key, log), indent=1))
        output = (self.workdir / "exits.out").open("wb")
        with output:
            process = self._spawn([str(sing_box_path()), "run", "-c", str(config)], output, output)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "sing-box started" in text:
                return
            if process.poll() is not None:
                break
            time.sleep(0.02)
        text = (self.workdir / "exits.out").read_text(errors="replace")
        raise RuntimeError(f"exit servers did not start: {text[-2000:]}")

    def start_server(self, name: str) -> None:
        """Start the exit server ``name`` of ``OTHER_EXIT_SERVERS`` (once it accepts, return)."""
        if name in self._others:
            return
        spec = OTHER_EXIT_SERVERS[name]
        output_path = self.workdir / f"{name}.out"
        with output_path.open("ab") as output:
            process = self._spawn(server_argv(name, self.workdir), output, output)
        self._others[name] = process
        deadline = time.monotonic() + START_TIMEOUT_S
        listening = f"src {spec['server']}:{spec['port']}"
        while time.monotonic() < deadline and process.poll() is None:
            # Asked inside the namespace: a second instance has no route from the root netns.
            found = self.ns_exec("ss", "-H", "-l", "-t", "-n", *listening.split())
            if found.stdout.strip():
                return
            time.sleep(0.05)
        text = output_path.read_text(errors="replace")
        raise RuntimeError(f"{name} did not start: {text[-2000:]}")

    def stop_server(self, name: str) -> None:
        """Stop the exit server ``name`` (its exit is down until ``start_server``)."""
        process = self._others.pop(name, None)
        if process is None:
            return
        kill_pids([process.pid])
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)
        self._processes.remove(process)

    # -- helpers for tests --------------------------------------------------------------

    def ns_exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the simulated internet's namespace."""
        return ns_exec(self.names, *args)

    @property
    def certificate_pem(self) -> str:
        """The self-signed certificate of the exits and the TLS whoami (trust it to verify)."""
        return self.cert_path.read_text()

    def direct_exit(self) -> dict[str, Any]:
        """The exit every end-to-end test binds its hosts to (``egress.default_exit``).

        Fixed addresses only: it can be made before the simulated internet runs.
        """
        return self.exit_body("direct")

    def exits(self) -> dict[str, dict[str, Any]]:
        """Every exit kind as the admin API takes it, plus what verification expects."""
        return {kind: self.exit_body(kind) for kind in KINDS}

    def exit_body(self, kind: str) -> dict[str, Any]:
        body: dict[str, Any] = {"label": f"sim-{kind}", "kind": kind}
        body.update(EXIT_SERVERS.get(kind, {}))
        if body.get("tls"):
            body["tls_certificate"] = self.certificate_pem
        body["expected_ip"] = body.get("server", self.names.root_address)
        body["dns_server"] = DNS_IP
        body["verify_url"] = VERIFY_URL
        body["verify_dns_name"] = MYADDR_NAME
        return body

    def exit_spec(self, kind: str) -> m.ExitSpec:
        return _spec(self.exits()[kind])

    def other_exit_body(self, name: str) -> dict[str, Any]:
        """The exit of a server that is not sing-box (``OTHER_EXIT_SERVERS``), for the API."""
        body: dict[str, Any] = {"label": f"sim-{name}", **OTHER_EXIT_SERVERS[name]}
        if body.get("tls") or body["kind"] == "trojan":
            body["tls_certificate"] = self.certificate_pem
        body["expected_ip"] = seen_as(name)
        body["dns_server"] = DNS_IP
        body["verify_url"] = VERIFY_URL
        body["verify_dns_name"] = MYADDR_NAME
        return body

    def other_exit_spec(self, name: str, **changes: Any) -> m.ExitSpec:
        return attrs.evolve(_spec(self.other_exit_body(name)), **changes)

    def dns_queries(self) -> list[dict[str, str]]:
        """Every query the DNS servers saw: name, type, source, server, transport."""
        lines = self.dns_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def counters(self) -> dict[str, int]:
        """Packets that entered the namespace over the veth since the last reset, by kind."""
        out = self.ns_exec("nft", "-j", "list", "counters", "table", "netdev", self.names.table)
        found = {name: 0 for name in COUNTERS}
        for item in json.loads(out.stdout)["nftables"]:
            counter = item.get("counter")
            name = counter["name"].removeprefix("n_") if counter else ""
            if name in found:
                found[name] = int(counter["packets"])
        return found

    def reset_counters(self) -> None:
        self.ns_exec("nft", "reset", "counters", "table", "netdev", self.names.table)


def _spec(body: dict[str, Any]) -> m.ExitSpec:
    fields = attrs.fields_dict(m.ExitSpec)
    return m.ExitSpec(**{key: value for key, value in body.items() if key in fields})


def running_sim(names: Names | None = None) -> Iterator[SimInternet]:
    """A started simulated internet for as long as the generator runs (fixture body)."""
    sim = SimInternet(names)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
