"""Gateway names and addresses: unique per slot, inside the pool, legal interface names."""

from __future__ import annotations

import ipaddress

import pytest

from agent.egress import layout as lay
from agent.errors import AgentError

POOL = lay.parse_pool("100.96.0.0/16")


def gateway(slot: int, tag: str = "ab12") -> lay.GatewayLayout:
    return lay.GatewayLayout(host_id="h", slot=slot, tag=tag, pool=POOL)


def test_each_slot_gets_its_own_addresses_inside_the_pool() -> None:
    seen: set[str] = set()
    for slot in (1, 2, 8190):
        g = gateway(slot)
        mine = {g.gateway_address, g.box_address, g.uplink_host_address, g.uplink_gateway_address}
        assert len(mine) == 4 and not mine & seen
        assert all(ipaddress.IPv4Address(a) in POOL for a in mine)
        seen |= mine


def test_box_and_gateway_share_a_30_and_so_do_the_uplink_ends() -> None:
    g = gateway(3)
    assert (
        ipaddress.IPv4Interface(f"{g.box_address}/30").network
        == ipaddress.IPv4Interface(f"{g.gateway_address}/30").network
    )
    assert ipaddress.IPv4Interface(f"{g.uplink_host_address}/30").network == (
        ipaddress.IPv4Interface(f"{g.uplink_gateway_address}/30").network
    )


def test_the_box_resolver_lies_in_the_tun_network_and_no_slot_uses_it() -> None:
    tun = ipaddress.IPv4Interface(lay.tun_cidr(POOL)).network
    assert ipaddress.IPv4Address(lay.dns_address(POOL)) in tun
    assert 0 not in lay.slots_in(POOL)


def test_interface_names_fit_the_kernel_limit_and_carry_the_instance_prefix() -> None:
    g = gateway(8190, tag=lay.instance_tag("some-long-instance-name"))
    for name in (g.uplink_host, g.uplink_peer, g.box_peer):
        assert len(name) <= 15 and name.startswith(lay.host_prefix(g.tag))
    assert g.netns.startswith(lay.host_prefix(g.tag))


def test_each_gateway_sing_box_gets_its_own_unprivileged_id_outside_systemd_ranges() -> None:
    ids = [gateway(slot).singbox_id for slot in lay.slots_in(POOL)]
    assert len(set(ids)) == len(ids)
    # Above systemd's container ranges, below its foreign range (and never a signed overflow).
    assert all(0x70000000 <= ident < 0x7FFE0000 for ident in ids)
    assert gateway(5, tag="ab12").singbox_id == gateway(5, tag="cd34").singbox_id


def test_free_slot_takes_the_lowest_unused_and_reports_a_full_pool() -> None:
    small = lay.parse_pool("100.96.0.0/28")  # slot 0 reserved, one usable
    assert lay.free_slot(POOL, {1, 2, 4}) == 3
    assert lay.free_slot(small, set()) == 1
    with pytest.raises(AgentError) as caught:
        lay.free_slot(small, {1})
    assert caught.value.code == "NET_003"


@pytest.mark.parametrize("text", ["100.96.0.0/29", "100.96.0.1/16", "not-a-net", "::/64"])
def test_a_bad_pool_is_refused(text: str) -> None:
    with pytest.raises(AgentError):
        lay.parse_pool(text)
