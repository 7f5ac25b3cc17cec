"""Each running host's gateway: built, supervised, listed and removed (DESIGN.md section 7).

``setup`` redoes the whole gateway at every start (a container restart makes a new netns);
``watch`` finds a dead sing-box (the kill switch already holds: its tun and so the only route
went with it), counts the trip and starts it again; the daemon sees the trip count, marks the
host degraded and verifies again. An unexpected error on one gateway is logged and counted
(``watch_errors``) and the watch goes on: it must outlive any one gateway. Records in the state
directory let a restarted agent adopt the running sing-box processes. Each sing-box runs
confined (``singbox_process``) and every start checks it is, restarts included.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import trio

from agent import logconfig
from agent.config import AgentConfig
from agent.dispatch import ReportProgress
from agent.egress import firewall, plumbing, singbox_process
from agent.egress import layout as lay
from agent.egress.exit_spec import check_domains, check_exit, resolve_server
from agent.egress.host_rules import apply_host_rules, remove_host_rules
from agent.egress.records import (
    ALLOWLIST_NAME,
    GatewayRecord,
    Records,
    open_to_group,
    write_private,
)
from agent.egress.singbox_binary import CheckedBinary
from agent.egress.singbox_config import (
    TunnelLayout,
    carries_udp,
    render_allowlist,
    render_config,
)
from agent.egress.verify import Probe, observe
from agent.errors import EGRESS_SETUP_FAILED, HOST_NOT_RUNNING, AgentError
from agent.ops.containers import Containers
from agent.ops.ports import socket_in_process
from agent.protocol import messages as m

log = logconfig.get("agent.egress")
TUN_WAIT_S = 10.0


class Gateways:
    def __init__(self, config: AgentConfig, containers: Containers) -> None:
        self.pool = lay.parse_pool(config.egress_pool)
        self.tag = lay.instance_tag(config.instance)
        self.records = Records(config.gateways_dir)
        self.containers = containers
        #: Checked once at agent start (``open_runtime``), never per use.
        self.sing_box = CheckedBinary(config.sing_box)
        #: Unexpected errors the kill-switch watch survived (``GatewayList.watch_errors``).
        self.watch_errors = 0
        self._watch_s = config.egress_watch_s
        self._slots = trio.Lock()
        self._locks: defaultdict[str, trio.Lock] = defaultdict(trio.Lock)

    def layout(self, record: GatewayRecord) -> lay.GatewayLayout:
        return lay.GatewayLayout(
            host_id=record.host_id, slot=record.slot, tag=record.tag or self.tag, pool=self.pool
        )

    def lock_of(self, host_id: str) -> trio.Lock:
        """Held while the host's gateway is set up, restarted or removed."""
        return self._locks[host_id]

    @property
    def dns_address(self) -> str:
        return lay.dns_address(self.pool)

    # --- setup and teardown ------------------------------------------------------------------

    async def setup(
        self, host_id: str, spec: m.GatewaySpec, progress: ReportProgress
    ) -> m.EgressState:
        info = await self.containers.require(host_id, running=True)
        return await self._setup(host_id, spec, int(info["State"]["Pid"]), progress)

    async def _setup(
        self, host_id: str, spec: m.GatewaySpec, box_pid: int, progress: ReportProgress
    ) -> m.EgressState:
        check_exit(spec.exit)
        domains = check_domains(spec.allowed_domains)
        self.sing_box.path()  # a missing or tampered binary fails before any plumbing
        async with self._locks[host_id]:
            address = await resolve_server(spec.exit)
            record = await self._reserve(host_id)
            await trio.to_thread.run_sync(self._stop, record)
            record.exit_kind, record.exit_address = spec.exit.kind, address
            record.exit_port, record.allowed_domains = spec.exit.port, domains
            record.always_allowed = list(spec.always_allowed)
            record.pid, record.trips = 0, 0
            record.upstream_password = secrets.token_urlsafe(24)
            await self.records.save(record)
            layout = self.layout(record)
            await progress("egress.gateway", 0, layout.netns)
            await trio.to_thread.run_sync(self._host_rules)
            await trio.to_thread.run_sync(plumbing.build, layout, box_pid)
            await progress("egress.firewall", 30, "default deny")
            # The host's own addresses: no box may reach them, whatever its exit.
            own = await trio.to_thread.run_sync(plumbing.host_addresses)
            udp = carries_udp(spec.exit)
            await trio.to_thread.run_sync(self._firewall, record, box_pid, own, udp)
            await progress("egress.tunnel", 60, f"sing-box ({spec.exit.kind})")
            await trio.to_thread.run_sync(self._write_config, record, spec.exit, own)
            await trio.to_thread.run_sync(self._start, record)
            await self.records.save(record)
            log.info("gateway_ready", host_id=host_id, netns=layout.netns, kind=spec.exit.kind)
            return await trio.to_thread.run_sync(self.state, record)

    async def probe(
        self, spec: m.ExitSpec, request: Probe, progress: ReportProgress, reply_id: int
    ) -> m.VerifyReply:
        """Test an exit with no box: a throwaway netns gets a gateway, is verified, goes."""
        probe_id = f"probe-{secrets.token_hex(4)}"
        stand_in = await trio.lowlevel.open_process(["unshare", "--net", "--", "sleep", "infinity"])
        try:
            await _wait_own_netns(stand_in.pid)
            await self._setup(probe_id, m.GatewaySpec(exit=spec), stand_in.pid, progress)
            return await observe(
                lambda kind: socket_in_process(stand_in.pid, kind), request, progress, reply_id
            )
        finally:
            with trio.CancelScope(shield=True):
                await self.teardown(probe_id)
                stand_in.kill()
                await stand_in.wait()

    async def _reserve(self, host_id: str) -> GatewayRecord:
        async with self._slots:
            record = await self.records.load(host_id)
            if record is None:
                used = {other.slot for other in await self.records.all()}
                used |= await trio.to_thread.run_sync(_slots_in_use)
                slot = lay.free_slot(self.pool, used)
                record = GatewayRecord(host_id=host_id, slot=slot, tag=self.tag)
                await self.records.save(record)
            return record

    def _firewall(
        self, record: GatewayRecord, box_pid: int, host_addresses: list[str], udp: bool
    ) -> None:
        layout = self.layout(record)
        firewall.apply(
            firewall.gateway_ruleset(
                exit_kind=record.exit_kind,
                server_ip=record.exit_address,
                port=record.exit_port,
                host_addresses=host_addresses,
                pool=str(self.pool),
                uplink_host=layout.uplink_host_address,
                exit_udp=udp,
            ),
            netns=layout.netns,
        )
        firewall.apply(firewall.box_ruleset(), pid=box_pid)

    def _write_config(
        self, record: GatewayRecord, spec: m.ExitSpec, host_addresses: list[str]
    ) -> None:
        self._write_allowlist(record)
        allowlist = f"{singbox_process.IN_OWN_DIRECTORY}/{ALLOWLIST_NAME}"
        layout = self.layout(record)
        tunnel = TunnelLayout(
            tun_name=lay.TUN,
            tun_address=layout.tun_cidr,
            routing_mark=lay.ROUTING_MARK,
            server_ip=record.exit_address,
            allowlist_path=allowlist,
            blocked_cidrs=(str(self.pool), *(f"{a}/32" for a in host_addresses)),
            upstream_listen=layout.uplink_gateway_address,
            upstream_port=lay.LLM_UPSTREAM_PORT,
            upstream_user=lay.LLM_UPSTREAM_USER,
            upstream_password=record.upstream_password,
        )
        write_private(
            self.records.config_path(record.host_id),
            json.dumps(render_config(spec, tunnel), indent=1),
        )

    def _write_allowlist(self, record: GatewayRecord) -> None:
        """The rule-set file sing-box watches (replaced atomically: it reloads on rename)."""
        rules = render_allowlist(record.allowed_domains, record.always_allowed)
        path, ident = self.records.allowlist_path(record.host_id), self.layout(record).singbox_id
        write_private(path, json.dumps(rules, indent=1), group=ident)

    def _start(self, record: GatewayRecord) -> None:
        """Start sing-box confined and route into its tun (blocking)."""
        layout = self.layout(record)
        config = self.records.config_path(record.host_id)
        open_to_group(config.parent, layout.singbox_id)
        record.pid = singbox_process.start(
            self.sing_box.path(),
            layout.netns,
            config,
            self.records.log_path(record.host_id),
            layout.singbox_id,
        )
        try:
            plumbing.route_tun(layout, TUN_WAIT_S)
            singbox_process.check_confined(record.pid, layout.singbox_id)
        except AgentError as exc:
            tail = self._log_tail(record)
            singbox_process.stop(record.pid, config)
            raise AgentError(EGRESS_SETUP_FAILED, f"{exc.message}; sing-box said: {tail}") from exc

    def _log_tail(self, record: GatewayRecord) -> str:
        try:
            text = self.records.log_path(record.host_id).read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-3:])[-600:]

    def _stop(self, record: GatewayRecord) -> None:
        singbox_process.stop(record.pid, self.records.config_path(record.host_id))

    def _host_rules(self) -> None:
        apply_host_rules(self.tag, str(self.pool))

    async def teardown(self, host_id: str) -> bool:
        async with self._locks[host_id]:
            record = await self.records.load(host_id)
            if record is None:
                return False
            await trio.to_thread.run_sync(self._stop, record)
            await trio.to_thread.run_sync(plumbing.destroy, self.layout(record))
            await self.records.forget(host_id)
            log.info("gateway_removed", host_id=host_id)
        tag = record.tag or self.tag
        async with self._slots:
            if not any((other.tag or self.tag) == tag for other in await self.records.all()):
                await trio.to_thread.run_sync(remove_host_rules, tag)
        return True

    async def set_allowlist(self, host_id: str, domains: list[str]) -> m.EgressState:
        """Rewrite the rule-set file sing-box watches: connections already open stay open."""
        cleaned = check_domains(domains)
        async with self._locks[host_id]:
            record = await self.records.load(host_id)
            if record is None:
                raise AgentError(HOST_NOT_RUNNING, f"host {host_id} has no gateway (not running)")
            record.allowed_domains = cleaned
            await trio.to_thread.run_sync(self._write_allowlist, record)
            await self.records.save(record)
            return await trio.to_thread.run_sync(self.state, record)

    # --- state -------------------------------------------------------------------------------

    def state(self, record: GatewayRecord) -> m.EgressState:
        layout = self.layout(record)
        running = singbox_process.alive(
            record.pid, self.records.config_path(record.host_id)
        ) and plumbing.tun_exists(layout)
        return m.EgressState(
            host_id=record.host_id,
            exists=True,
            running=running,
            singbox_pid=record.pid,
            trips=record.trips,
            box_address=layout.box_address,
            gateway_address=layout.gateway_address,
            dns_address=layout.dns_address,
            exit_kind=record.exit_kind,
            exit_address=record.exit_address,
            netns=layout.netns,
        )

    async def list_all(self) -> tuple[list[m.EgressState], list[str]]:
        records = await self.records.all()
        states = [await trio.to_thread.run_sync(self.state, record) for record in records]
        return states, await trio.to_thread.run_sync(self._leftovers, records, self._busy())

    def _busy(self) -> set[str]:
        """Hosts whose gateway is being set up, restarted or removed right now."""
        return {host_id for host_id, lock in self._locks.items() if lock.locked()}

    def _leftovers(self, records: list[GatewayRecord], busy: set[str]) -> list[str]:
        known = {self.layout(record) for record in records}
        names = {lay_.netns for lay_ in known}
        links = {name for lay_ in known for name in (lay_.uplink_host, lay_.uplink_peer)}
        prefix = lay.host_prefix(self.tag)
        found = [f"netns:{n}" for n in plumbing.namespaces_with_prefix(prefix) if n not in names]
        found += [f"link:{n}" for n in plumbing.links_with_prefix(prefix) if n not in links]
        pids = {record.pid for record in records}
        for pid, config in singbox_process.running_for(self.records.directory).items():
            if pid not in pids and config.parent.name not in busy:
                found.append(f"process:{pid}:{config}")
        return found

    async def remove_leftovers(self) -> list[str]:
        async with self._slots:
            records = await self.records.all()
            found = await trio.to_thread.run_sync(self._leftovers, records, self._busy())
            await trio.to_thread.run_sync(_remove, found)
        if found:
            log.warning("gateway_leftovers_removed", leftovers=found)
        return found

    # --- the kill-switch watch ---------------------------------------------------------------

    async def watch(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self._watch_s)
            with self._survive(None):
                for record in await self.records.all():
                    with self._survive(record.host_id):
                        if record.pid and not await trio.to_thread.run_sync(self._alive, record):
                            await self._restart(record.host_id)

    @contextlib.contextmanager
    def _survive(self, host_id: str | None) -> Iterator[None]:
        """An unexpected error is logged and counted; the watch goes on with the next gateway."""
        try:
            yield
        except Exception:
            self.watch_errors += 1
            log.exception("gateway_watch_failed", host_id=host_id, watch_errors=self.watch_errors)

    def _alive(self, record: GatewayRecord) -> bool:
        return singbox_process.alive(record.pid, self.records.config_path(record.host_id))

    async def _restart(self, host_id: str) -> None:
        async with self._locks[host_id]:
            record = await self.records.load(host_id)
            if record is None or not record.pid:
                return
            if await trio.to_thread.run_sync(self._alive, record):
                return
            record.trips += 1
            log.warning("killswitch_tripped", host_id=host_id, trips=record.trips)
            record.pid = 0
            await self.records.save(record)
            try:
                await trio.to_thread.run_sync(self._start, record)
            except AgentError as exc:
                log.error("singbox_restart_failed", host_id=host_id, error=exc.message)
                record.pid = 0
            await self.records.save(record)

    async def counters(self) -> dict[str, int]:
        netns = [self.layout(record).netns for record in await self.records.all()]
        return await trio.to_thread.run_sync(firewall.dropped, self.tag, netns)


async def _wait_own_netns(pid: int) -> None:
    """``unshare`` has made its namespace (the PID's netns is no longer ours)."""
    own = os.stat("/proc/self/ns/net").st_ino
    with trio.fail_after(5):
        while True:
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino != own:
                    return
            except FileNotFoundError as exc:
                raise AgentError(EGRESS_SETUP_FAILED, "the probe namespace did not start") from exc
            await trio.sleep(0.01)


def _slots_in_use() -> set[int]:
    """Slots of every gateway namespace on this kernel, whatever instance made it.

    Instances may share a pool (and always share the kernel): a leftover of another one still
    holds its addresses, so its slot is not handed out again.
    """
    found: set[int] = set()
    for name in plumbing.namespaces_with_prefix("cc"):
        head, _, slot = name.rpartition("-gw")
        if head and slot.isdigit():
            found.add(int(slot))
    return found


def _remove(found: list[str]) -> None:
    for item in found:
        kind, _, rest = item.partition(":")
        if kind == "netns":
            plumbing.remove_netns(rest)
        elif kind == "link":
            plumbing.delete_link(rest)
        elif kind == "process":
            pid, _, config = rest.partition(":")
            singbox_process.stop(int(pid), Path(config))
