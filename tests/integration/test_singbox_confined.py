"""A gateway's sing-box is confined (issue 14), on the real kernel with the real sing-box: its
own unprivileged uid and gid, CAP_NET_ADMIN as its only capability, no_new_privs, in its gateway
namespace; its config (exit credentials) readable by no other uid, sing-box's own included;
the box's traffic still leaves only through the exit; and after the kill switch trips it comes
back confined. Leak and kill-switch helpers are shared with the other egress tests.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from agent.egress import layout as lay
from agent.egress import singbox_process as sp
from agent.egress.singbox_binary import sing_box_path
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes
from tests.integration.netsim import SimInternet
from tests.integration.processes import proc_status
from tests.integration.test_egress_gateway import MYADDR, WHOAMI, leak_case, running_box
from tests.integration.test_gateway_lifecycle import kill_switch_case

CAP_NET_ADMIN = 1 << 12
#: An unprivileged uid no gateway uses (``nobody``).
NOBODY = 65534


async def gateway_of(agent: Agent, host_id: str) -> m.EgressState:
    [state] = [g for g in (await agent.list_gateways()).gateways if g.host_id == host_id]
    return state


def expected_id(boxes_state: Path, host_id: str) -> int:
    record = json.loads((boxes_state / "gateways" / host_id / "state.json").read_text())
    return lay.SINGBOX_ID_BASE + int(record["slot"])


def assert_confined(state: m.EgressState, ident: int) -> None:
    """The process ``/proc`` shows: its own ids, only NET_ADMIN, no_new_privs, its netns."""
    pid = state.singbox_pid
    seen = proc_status(pid)
    assert seen["Uid"].split() == [str(ident)] * 4, seen["Uid"]
    assert seen["Gid"].split() == [str(ident)] * 4, seen["Gid"]
    assert seen["Groups"] == "", seen["Groups"]
    for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert int(seen[key], 16) == CAP_NET_ADMIN, (key, seen[key])
    assert seen["NoNewPrivs"] == "1"
    assert Path(f"/proc/{pid}/exe").resolve() == sing_box_path().resolve()
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{state.netns}").st_ino
    # Its capability is held in the user namespace owning that netns, not in the host's.
    assert os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino
    # Nothing of the agent's environment (an embedded agent's holds the daemon's secrets).
    environ = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").split(b"\0")
    assert {item.split(b"=", 1)[0].decode() for item in environ} == set(sp.ENVIRONMENT), environ


def read_as(ident: int, path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cat path`` as uid and gid ``ident`` with no groups, from ``cwd``."""
    return subprocess.run(
        ["setpriv", f"--reuid={ident}", f"--regid={ident}", "--clear-groups", "cat", path],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )


def test_the_tun_node_sing_box_opens_is_its_own_and_the_host_keeps_its_node() -> None:
    before = os.stat("/dev/net/tun")
    show = ["stat", "-c", "%u %g %a %t:%T", "/dev/net/tun"]
    done = subprocess.run(
        [sys.executable, "-I", str(sp.CONFINE), "4242", "--", *show],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    device = f"{os.major(before.st_rdev):x}:{os.minor(before.st_rdev):x}"
    assert done.stdout.split() == ["4242", "4242", "600", device], done
    after = os.stat("/dev/net/tun")
    assert (after.st_uid, after.st_gid, after.st_mode) == (0, 0, before.st_mode)
    assert "/dev/net " not in Path("/proc/self/mountinfo").read_text()


async def test_sing_box_runs_unprivileged_and_only_the_exit_carries_the_box(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, boxes_state: Path
) -> None:
    sim = sim_internet
    host_id = await running_box(box_agent, new_host, sim, "socks5")
    state = await gateway_of(box_agent, host_id)
    ident = expected_id(boxes_state, host_id)
    assert state.running
    assert_confined(state, ident)
    # The tun node it opened lives in its own mount namespace: the host's is untouched.
    assert "/dev/net " not in Path("/proc/self/mountinfo").read_text()
    exit_ip = sim.exits()["socks5"]["expected_ip"]
    seen = await box_agent.verify_egress(host_id, url=WHOAMI, dns_name=MYADDR, timeout_s=10)
    assert seen.http_body == exit_ip and seen.txt_answers == [exit_ip], seen
    reply = await leak_case(
        box_agent,
        host_id,
        sim,
        "curl -sS -m 3 http://198.18.1.1/; dig +short +time=2 +tries=1 @198.18.1.99 TXT "
        f"{MYADDR}; true",
    )
    assert exit_ip in reply.stdout, reply


def run_confined(netns: str, ident: int, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` run exactly as a gateway's sing-box is: same helper, ids, namespaces."""
    return subprocess.run(
        sp.confined(netns, ident, ["sh", "-c", script]),
        env=sp.ENVIRONMENT,
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )


async def test_confined_like_it_a_process_cannot_reach_the_hosts_network(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, boxes_state: Path
) -> None:
    host_id = await running_box(box_agent, new_host, sim_internet, "socks5")
    state = await gateway_of(box_agent, host_id)
    ident = expected_id(boxes_state, host_id)
    # What a compromised sing-box would try: push a link into PID 1's netns (the host's), or
    # make one there. Both need CAP_NET_ADMIN over the host's network, which it lacks.
    attempts = {
        "push": "ip link add ccesc0 type veth peer name ccesc1 && ip link set ccesc1 netns 1",
        "make": "ip link add ccesc2 type veth peer name ccesc3 netns 1",
    }
    try:
        for name, script in attempts.items():
            done = await trio.to_thread.run_sync(run_confined, state.netns, ident, script)
            assert done.returncode != 0 and "Operation not permitted" in done.stderr, (name, done)
        host_links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert "ccesc1" not in host_links and "ccesc3" not in host_links
    finally:
        for link in ("ccesc1", "ccesc3"):
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    seen = await box_agent.verify_egress(host_id, url=WHOAMI, dns_name="", timeout_s=10)
    assert seen.http_body == sim_internet.exits()["socks5"]["expected_ip"], seen


async def test_its_config_is_readable_by_no_other_uid(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, boxes_state: Path
) -> None:
    host_id = await running_box(box_agent, new_host, sim_internet, "socks5")
    ident = expected_id(boxes_state, host_id)
    directory = boxes_state / "gateways" / host_id
    config = directory / "sing-box.json"
    secret = sim_internet.exit_spec("socks5").password
    assert secret and secret in config.read_text()  # the file does hold the exit's secret
    mode = config.stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_uid, mode.st_gid) == (0o600, 0, 0)
    here = directory.stat()
    assert (stat.S_IMODE(here.st_mode), here.st_uid, here.st_gid) == (0o750, 0, ident)
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    # By path: neither another gateway's uid, nor nobody, nor this sing-box's own uid.
    for uid in (ident + 1, NOBODY, ident):
        denied = read_as(uid, str(config), Path("/"))
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, (uid, denied)
    # From inside its directory (the way sing-box reaches it): its allowlist, never its config.
    assert read_as(ident, "allowlist.json", directory).returncode == 0
    denied = read_as(ident, "sing-box.json", directory)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied
    for uid in (ident + 1, NOBODY):
        for name in ("allowlist.json", "sing-box.json", "state.json", "sing-box.log"):
            denied = read_as(uid, name, directory)
            assert denied.returncode != 0 and "Permission denied" in denied.stderr, (uid, name)


async def test_the_kill_switch_brings_it_back_confined(
    slow_watch_agent: Agent, sim_internet: SimInternet, boxes_state: Path
) -> None:
    host_id = boxes.new_host_id()
    try:
        await kill_switch_case(slow_watch_agent, host_id, sim_internet, boxes_state)
        state = await gateway_of(slow_watch_agent, host_id)
        assert state.trips == 1 and state.running
        assert_confined(state, expected_id(boxes_state, host_id))
    finally:
        with trio.CancelScope(shield=True):
            await slow_watch_agent.remove_host(host_id, purge=True)
