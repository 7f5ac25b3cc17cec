"""The rendered nftables rulesets say what DESIGN.md section 7 promises (and nft accepts them)."""

from __future__ import annotations

import subprocess

from agent.egress import firewall


def proxy_gateway() -> str:
    return firewall.gateway_ruleset(
        exit_kind="socks5",
        server_ip="198.18.2.1",
        port=1080,
        host_addresses=["10.0.0.5"],
        pool="100.96.0.0/16",
        uplink_host="100.96.0.13",
    )


def direct_gateway() -> str:
    return firewall.gateway_ruleset(
        exit_kind="direct",
        server_ip="",
        port=0,
        host_addresses=["10.0.0.5", "198.18.0.1"],
        pool="100.96.0.0/16",
        uplink_host="100.96.0.13",
    )


def test_rulesets_replace_their_table_atomically_and_never_flush_everything() -> None:
    for script in (proxy_gateway(), direct_gateway(), firewall.box_ruleset()):
        assert script.startswith("table inet cloudclaude {}\ndelete table inet cloudclaude\n")
        assert "flush ruleset" not in script
    host = firewall.host_ruleset("ab12", "100.96.0.0/16")
    assert "delete table inet cloudclaude_ab12" in host


def test_every_chain_drops_by_default() -> None:
    for script in (proxy_gateway(), firewall.box_ruleset()):
        chains = script.count("type filter hook")
        assert chains and script.count("policy drop;") == chains


def test_a_proxy_gateway_lets_only_marked_packets_to_the_exit_server_out() -> None:
    for kind, accepted in (("socks5", 2), ("vmess", 1)):
        script = firewall.gateway_ruleset(
            exit_kind=kind,
            server_ip="198.18.2.1",
            port=1080,
            host_addresses=[],
            pool="p",
            uplink_host="100.96.0.13",
        )
        uplink = [
            line
            for line in script.splitlines()
            if 'oifname "up0"' in line and "sport 4181 ct state established" not in line
        ]
        accepts = [line for line in uplink if line.strip().endswith("accept")]
        assert len(accepts) == accepted  # socks5 adds UDP to the relay port it is told
        for line in accepts:
            assert "meta mark 0x2a" in line and "ip daddr 198.18.2.1" in line
        assert "tcp, udp } th dport 1080" in accepts[0]


def test_only_the_box_reaches_its_credentials_endpoint_and_only_the_host_the_proxy() -> None:
    script = proxy_gateway()
    inputs = script.split("chain input")[1].split("chain forward")[0]
    assert 'iifname "box0" tcp dport 4180 accept' in inputs
    assert 'iifname "up0" ip saddr 100.96.0.13 tcp dport 4181 accept' in inputs
    assert "4180" not in inputs.replace('iifname "box0" tcp dport 4180', "")
    output = script.split("chain output")[1]
    reply = 'oifname "up0" ip daddr 100.96.0.13 tcp sport 4181 ct state established accept'
    assert reply in output


def test_a_direct_gateway_refuses_private_host_and_link_local_destinations() -> None:
    script = direct_gateway()
    drop = next(line for line in script.splitlines() if 'counter name "drop_exit" drop' in line)
    for net in ("10.0.0.0/8", "192.168.0.0/16", "169.254.0.0/16", "100.96.0.0/16", "198.18.0.1"):
        assert net in drop


def test_box_traffic_may_only_enter_the_tun_and_never_as_icmp_or_ipv6() -> None:
    script = proxy_gateway()
    forward = script.split("chain forward")[1].split("chain output")[0]
    assert 'iifname "box0" oifname "tun0" accept' in forward
    assert "icmp" in forward and "ipv6" in forward
    assert 'oifname "up0"' not in forward


def test_the_box_sends_no_icmp_ipv6_or_link_local() -> None:
    output = firewall.box_ruleset().split("chain output")[1].split("chain input")[0]
    assert "meta l4proto icmp" in output and "nfproto ipv6" in output
    assert "169.254.0.0/16" in output


def test_the_host_masquerades_uplinks_and_keeps_them_off_host_services() -> None:
    script = firewall.host_ruleset("ab12", "100.96.0.0/16")
    assert 'iifname "ccab12u*" counter name "drop_host" drop' in script
    assert "masquerade" in script


def test_nft_accepts_every_ruleset() -> None:
    scripts = [
        proxy_gateway(),
        direct_gateway(),
        firewall.box_ruleset(),
        firewall.host_ruleset("ab12", "100.96.0.0/16"),
    ]
    for script in scripts:
        done = subprocess.run(
            ["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


def test_an_exit_without_udp_counts_the_boxes_udp_and_gets_no_udp_relay() -> None:
    def ruleset(kind: str, udp: bool) -> str:
        return firewall.gateway_ruleset(
            exit_kind=kind,
            server_ip="198.18.2.1",
            port=1080,
            host_addresses=[],
            pool="100.96.0.0/16",
            uplink_host="100.96.0.13",
            exit_udp=udp,
        )

    counted = 'iifname "box0" oifname "tun0" udp dport != 53 counter name "drop_udp"'
    relay = "ip daddr 198.18.2.1 meta l4proto udp accept"
    assert counted in ruleset("socks5", False) and relay not in ruleset("socks5", False)
    assert counted not in ruleset("socks5", True) and relay in ruleset("socks5", True)
    script = ruleset("http", False)
    # Counted before the box's traffic is let into the tun (sing-box refuses it there).
    assert script.index(counted) < script.index('iifname "box0" oifname "tun0" accept')
    assert "drop_udp" in firewall.COUNTERS and "counter drop_udp {}" in script


def test_sing_boxs_refusals_reach_the_box_but_no_other_icmp_passes() -> None:
    script = proxy_gateway()
    back = 'iifname "tun0" oifname "box0" icmp type destination-unreachable accept'
    assert back in script
    # Before the ICMP drop, and only from the tun to the box: the box still sends no ICMP.
    assert script.index(back) < script.index('meta l4proto icmp counter name "drop_icmp" drop')
    assert 'iifname "box0" oifname "tun0" icmp' not in script
