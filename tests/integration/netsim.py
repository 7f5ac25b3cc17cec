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
- nft counters of what enters the namespace over the veth, by category.

Only loopback and these namespaces carry test traffic. Everything is removed by ``stop``, and
leftovers of a crashed run with the same prefix are swept by ``start``; a lock file keeps two
test runs from sharing (and sweeping) one instance.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.egress import dnswire, plumbing, singbox_process
from agent.egress.singbox_binary import sing_box_path
from agent.egress.singbox_config import TunnelLayout, render_config
from agent.protocol import messages as m

KINDS = ("direct", "socks5", "http", "shadowsocks", "vmess", "vless", "trojan")
WHOAMI_IPS = ("198.18.1.1", "198.18.1.2", "198.18.1.3")
TLS_WHOAMI_IPS = ("198.18.1.2", "198.18.1.3")
DNS_IP = "198.18.1.53"
ROGUE_DNS_IP = "198.18.1.99"
MYADDR_NAME = "myaddr.sim.test"
VERIFY_URL = "http://198.18.1.1/"
EXIT_NAME = "exit.sim.test"
RECORDS = {
    "whoami.sim.test": "198.18.1.1",
    "allowed.sim.test": "198.18.1.2",
    "other.sim.test": "198.18.1.3",
    EXIT_NAME: "198.18.2.6",
}
SERVICES_NET = "198.18.1.0/24"
EXITS_NET = "198.18.2.0/24"
COUNTERS = ("services", "exit_servers", "icmp", "ip6", "other")
#: The part of each exit's admin-API body that is the server's; credentials are test-only.
EXIT_SERVERS: dict[str, dict[str, Any]] = {
    "socks5": {
        "server": "198.18.2.1",
        "port": 1080,
        "username": "sim-user",
        "password": "sim-socks-pass",
    },
    "http": {
        "server": "198.18.2.2",
        "port": 3128,
        "username": "sim-user",
        "password": "sim-http-pass",
    },
    "shadowsocks": {
        "server": "198.18.2.3",
        "port": 8388,
        "method": "aes-128-gcm",
        "password": "sim-ss-pass",
    },
    "vmess": {
        "server": "198.18.2.4",
        "port": 10086,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a01",
        "security": "auto",
        "alter_id": 0,
    },
    "vless": {
        "server": "198.18.2.5",
        "port": 443,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a02",
        "flow": "xtls-rprx-vision",
        "tls": True,
        "tls_insecure": False,
    },
    "trojan": {
        "server": "198.18.2.6",
        "port": 443,
        "password": "sim-trojan-pass",
        "tls": True,
        "tls_server_name": EXIT_NAME,
        "tls_insecure": False,
    },
}
START_TIMEOUT_S = 10.0
WORK_ROOT = "/tmp"
LOCK_TIMEOUT_S = 900.0


@attrs.frozen(kw_only=True)
class Names:
    """The names and link addresses of one instance (tests may make a second one)."""

    prefix: str = "ccsim"
    #: The veth /30: root end ``+1``, namespace end ``+2``.
    link: str = "198.18.0.0/30"
    #: Route 198.18.0.0/16 from the root netns into the namespace (only one instance may).
    route: bool = True

    @property
    def netns(self) -> str:
        return f"{self.prefix}-inet"

    @property
    def root_veth(self) -> str:
        return f"{self.prefix}-r"

    @property
    def inner_veth(self) -> str:
        return f"{self.prefix}-i"

    @property
    def table(self) -> str:
        return self.prefix.replace("-", "_")

    def _at(self, offset: int) -> str:
        return str(ipaddress.IPv4Network(self.link).network_address + offset)

    @property
    def root_address(self) -> str:
        return self._at(1)

    @property
    def inner_address(self) -> str:
        return self._at(2)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


def ip_batch(*commands: str, netns: str = "") -> None:
    """Run ``ip`` commands in one process (in ``netns`` when given)."""
    where = ["-n", netns] if netns else []
    script = "".join(f"{command}\n" for command in commands)
    result = subprocess.run(
        ["ip", *where, "-batch", "-"], input=script, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(where)} -batch failed: {result.stderr.strip()}")


def netns_pids(netns: str) -> list[int]:
    out = run("ip", "netns", "pids", netns, check=False).stdout
    return [int(pid) for pid in out.split()]


def kill_pids(pids: list[int], grace_s: float = 2.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for pid in pids:
        while singbox_process.running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            if singbox_process.running(pid):
                os.kill(pid, signal.SIGKILL)


def sweep(names: Names, keep: Path | None = None) -> None:
    """Remove what an instance with these names left behind (processes, netns, veth, files).

    Only call it holding the instance's lock (or for names no running instance uses).
    """
    if plumbing.netns_exists(names.netns):
        kill_pids(netns_pids(names.netns))
        run("ip", "netns", "del", names.netns, check=False)
    for link in plumbing.links_with_prefix(f"{names.prefix}-"):
        run("ip", "link", "del", link, check=False)
    for stale in Path(WORK_ROOT).glob(f"{names.prefix}-*"):
        if stale != keep and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the exits and the TLS whoami (every name and address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EXIT_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in RECORDS]
    addresses = [*WHOAMI_IPS, *(server["server"] for server in EXIT_SERVERS.values())]
    names += [x509.IPAddress(ipaddress.IPv4Address(ip)) for ip in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sim-cert.pem", directory / "sim-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def exit_server_config(cert: Path, key: Path, log: Path) -> dict[str, Any]:
    """sing-box serving every exit kind, each leaving from (and resolving from) its address."""
    tls = {
        "enabled": True,
        "server_name": EXIT_NAME,
        "certificate_path": str(cert),
        "key_path": str(key),
    }
    inbounds: list[dict[str, Any]] = []
    outbounds: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for kind, spec in EXIT_SERVERS.items():
        inbound: dict[str, Any] = {
            "type": "socks" if kind == "socks5" else kind,
            "tag": f"in-{kind}",
            "listen": spec["server"],
            "listen_port": spec["port"],
        }
        if kind in ("socks5", "http"):
            inbound["users"] = [{"username": spec["username"], "password": spec["password"]}]
        elif kind == "shadowsocks":
            inbound.update(method=spec["method"], password=spec["password"])
        elif kind == "vmess":
            inbound["users"] = [{"uuid": spec["uuid"], "alterId": spec["alter_id"]}]
        elif kind == "vless":
            inbound["users"] = [{"uuid": spec["uuid"], "flow": spec["flow"]}]
            inbound["tls"] = tls
        elif kind == "trojan":
            inbound["users"] = [{"password": spec["password"]}]
            inbound["tls"] = tls
        inbounds.append(inbound)
        bind = {"inet4_bind_address": spec["server"]}
        servers.append({"type": "udp", "tag": f"dns-{kind}", "server": DNS_IP, **bind})
        outbounds.append(
            {"type": "direct", "tag": f"out-{kind}", "domain_resolver": f"dns-{kind}", **bind}
        )
        rules.append({"inbound": f"in-{kind}", "action": "route", "outbound": f"out-{kind}"})
    return {
        "log": {"level": "info", "timestamp": True, "output": str(log)},
        "dns": {"servers": servers, "strategy": "ipv4_only"},
        "inbounds": inbounds,
        "outbounds": outbounds,
        "route": {"rules": rules, "final": "out-socks5"},
    }


def nft_ruleset(names: Names) -> str:
    # nft 1.0.6 refuses keywords (icmp, ip6) as object names: every counter is "n_<name>".
    counters = "\n".join(f"  counter n_{name} {{}}" for name in COUNTERS)
    return f"""table netdev {names.table} {{
{counters}
  chain ingress {{
    type filter hook ingress device "{names.inner_veth}" priority 0; policy accept;
    meta protocol arp accept
    meta protocol ip6 counter name "n_ip6" accept
    meta protocol != ip counter name "n_other" accept
    ip protocol icmp counter name "n_icmp" accept
    ip daddr {SERVICES_NET} counter name "n_services" accept
    ip daddr {EXITS_NET} counter name "n_exit_servers" accept
    counter name "n_other" accept
  }}
}}
"""


class SimInternet:
    """One running simulated internet; ``start`` it, use it, ``stop`` it (idempotent)."""

    def __init__(self, names: Names | None = None) -> None:
        self.names = names or Names()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.names.prefix}-", dir=WORK_ROOT))
        self.dns_log = self.workdir / "dns.jsonl"
        self.cert_path = self.workdir / "sim-cert.pem"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._lock: IO[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._take_lock()
        try:
            sweep(self.names, keep=self.workdir)
            self._plumb()
            cert, key = make_certificate(self.workdir)
            self._start_servers(cert, key)
            self._start_exits(cert, key)
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
        sweep(self.names, keep=self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        path = Path("/run/lock") / f"{self.names.prefix}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.open("wb")
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    shutil.rmtree(self.workdir, ignore_errors=True)
                    raise RuntimeError(f"{path} is held by another test run") from None
                time.sleep(0.2)
        self._lock = lock

    def _plumb(self) -> None:
        n = self.names
        prefixlen = ipaddress.IPv4Network(n.link).prefixlen
        ip_batch(
            f"netns add {n.netns}",
            f"link add {n.root_veth} type veth peer name {n.inner_veth}",
            f"link set {n.inner_veth} netns {n.netns}",
        )
        # IPv6 off before any link is up: no router solicitations, no link-local noise.
        _sysctl(f"net/ipv6/conf/{n.root_veth}/disable_ipv6", "1")
        self.ns_exec(
            "sh", "-c", "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 >$f; done"
        )
        root = [f"addr add {n.root_address}/{prefixlen} dev {n.root_veth}"]
        root.append(f"link set {n.root_veth} up")
        if n.route:
            root.append(f"route replace 198.18.0.0/16 via {n.inner_address} dev {n.root_veth}")
        ip_batch(*root)
        local = [*WHOAMI_IPS, DNS_IP, ROGUE_DNS_IP]
        local += [server["server"] for server in EXIT_SERVERS.values()]
        ip_batch(
            "link set lo up",
            *(f"addr add {ip}/32 dev lo" for ip in local),
            f"addr add {n.inner_address}/{prefixlen} dev {n.inner_veth}",
            f"link set {n.inner_veth} up",
            netns=n.netns,
        )
        ruleset = self.workdir / "counters.nft"
        ruleset.write_text(nft_ruleset(n))
        self.ns_exec("nft", "-f", str(ruleset))

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

    # -- helpers for tests --------------------------------------------------------------

    def ns_exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the simulated internet's namespace."""
        return run("ip", "netns", "exec", self.names.netns, *args)

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
        fields = attrs.fields_dict(m.ExitSpec)
        body = self.exits()[kind]
        return m.ExitSpec(**{key: value for key, value in body.items() if key in fields})

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


def dns_query(
    server: str, name: str, qtype: str = "A", *, port: int = 53, tcp: bool = False
) -> list[str]:
    """Ask ``server`` once; the A addresses or TXT strings of the answer (blocking, 3 s)."""
    code = {"A": dnswire.TYPE_A, "TXT": dnswire.TYPE_TXT, "AAAA": dnswire.TYPE_AAAA}[qtype]
    ident, query = dnswire.query(name, code)
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(3)
        sock.connect((server, port))
        if tcp:
            sock.sendall(struct.pack("!H", len(query)) + query)
            reply = _recv_exact(sock, struct.unpack("!H", _recv_exact(sock, 2))[0])
        else:
            sock.send(query)
            reply = sock.recv(4096)
    return dnswire.answers(reply, ident, code)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("DNS connection closed early")
        data += chunk
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class LocalClient:
    """A sing-box client in the root netns speaking to one exit (see ``local_client``)."""

    #: HTTP and SOCKS5 proxy (a ``mixed`` inbound) on 127.0.0.1.
    proxy_port: int
    #: DNS on 127.0.0.1 (UDP and TCP), answered by the rendered ``dns`` section.
    dns_port: int

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"


def local_client_config(exit: m.ExitSpec, proxy_port: int, dns_port: int) -> dict[str, Any]:
    """The rendered gateway outbound and DNS, with local inbounds instead of the tun."""
    layout = TunnelLayout(
        tun_name="unused", tun_address="100.96.0.1/30", routing_mark=0, server_ip=exit.server
    )
    rendered = render_config(exit, layout)
    return {
        "log": {"level": "warn", "timestamp": True},
        "dns": rendered["dns"],
        "inbounds": [
            {"type": "mixed", "tag": "proxy-in", "listen": "127.0.0.1", "listen_port": proxy_port},
            {"type": "direct", "tag": "dns-in", "listen": "127.0.0.1", "listen_port": dns_port},
        ],
        "outbounds": rendered["outbounds"],
        "route": {
            "rules": [{"inbound": "dns-in", "action": "hijack-dns"}],
            "final": rendered["route"]["final"],
        },
    }


@contextlib.contextmanager
def local_client(exit: m.ExitSpec, workdir: Path) -> Iterator[LocalClient]:
    """Run sing-box in the root netns with ``render_config``'s outbound for ``exit``."""
    client = LocalClient(free_port(), free_port())
    config = workdir / f"client-{client.proxy_port}.json"
    config.write_text(json.dumps(local_client_config(exit, *attrs.astuple(client)), indent=1))
    log = workdir / f"client-{client.proxy_port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(sing_box_path()), "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        _wait_listening(client.proxy_port, process, log)
        yield client
    finally:
        kill_pids([process.pid])
        process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"sing-box client did not start: {log.read_text(errors='replace')}")


def _sysctl(path: str, value: str) -> None:
    Path("/proc/sys", path).write_text(value)


def running_sim(names: Names | None = None) -> Iterator[SimInternet]:
    """A started simulated internet for as long as the generator runs (fixture body)."""
    sim = SimInternet(names)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
