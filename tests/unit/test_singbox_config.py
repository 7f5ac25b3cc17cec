"""The gateway's sing-box configuration: golden files per exit kind (each accepted by the real
``sing-box check``), and the properties egress safety rests on, asserted directly.

Regenerate the golden files with ``UPDATE_GOLDEN=1 pytest tests/unit/test_singbox_config.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest

from agent.egress.singbox_binary import sing_box_path
from agent.egress.singbox_config import (
    UDP_PROBE_PORT,
    TunnelLayout,
    carries_udp,
    render_allowlist,
    render_config,
)
from agent.protocol import messages as m

GOLDEN = Path(__file__).parent / "golden" / "singbox"
MARK = 0x2A
DNS = "198.51.100.53"
ALLOWLIST_PATH = "/var/lib/cloudclaude/gateways/h-0001/allowlist.json"
UUID = "5d1a3c1e-2b4f-4c6d-8e9f-0a1b2c3d4e5f"
#: A self-signed certificate (CN exit.example.net, valid until 2126): sing-box parses it.
PEM = """-----BEGIN CERTIFICATE-----
MIIBqjCCAVCgAwIBAgIUTAfHTMtSwnvP1u2ixiY5uNfNORowCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQZXhpdC5leGFtcGxlLm5ldDAgFw0yNjExMjQxNjMwNTdaGA8y
MTI2MTAzMTE2MzA1N1owGzEZMBcGA1UEAwwQZXhpdC5leGFtcGxlLm5ldDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABLedjM/ie+4J99ZZu4ReTgwcQJqZwXN//UDd
Do+QRY/EP9I1PlF/4bhmw3LYZrvm+o0IjV/7dXULUi/+Jg7hs8OjcDBuMB0GA1Ud
DgQWBBQ3sTvSXj9S1jigcXnAOfv50pomLTAfBgNVHSMEGDAWgBQ3sTvSXj9S1jig
cXnAOfv50pomLTAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEGV4aXQuZXhh
bXBsZS5uZXQwCgYIKoZIzj0EAwIDSAAwRQIgOGmGreiRYhmyonf8VfOpKLpdKXkZ
4qwpAOqlKodXhM0CIQDmh/2Fp4lur7jD4BN+aspb+5x5imfmzMs1SbtlBsvPCg==
-----END CERTIFICATE-----
"""

#: Every kind, as an exit and the address the agent resolved its server to.
EXITS: dict[str, tuple[m.ExitSpec, str]] = {
    "direct": (m.ExitSpec(kind="direct", dns_server=DNS), ""),
    "socks5": (
        m.ExitSpec(
            kind="socks5",
            server="203.0.113.1",
            port=1080,
            username="alice",
            password="socks-secret",
            dns_server=DNS,
        ),
        "203.0.113.1",
    ),
    "http": (
        m.ExitSpec(
            kind="http",
            server="proxy.example.net",
            port=3128,
            username="alice",
            password="http-secret",
            tls=True,
            dns_server=DNS,
        ),
        "203.0.113.2",
    ),
    "shadowsocks": (
        m.ExitSpec(
            kind="shadowsocks",
            server="203.0.113.3",
            port=8388,
            method="aes-128-gcm",
            password="ss-secret",
            dns_server=DNS,
        ),
        "203.0.113.3",
    ),
    "vmess": (
        m.ExitSpec(
            kind="vmess", server="203.0.113.4", port=10086, uuid=UUID, alter_id=0, dns_server=DNS
        ),
        "203.0.113.4",
    ),
    "vless": (
        m.ExitSpec(
            kind="vless",
            server="203.0.113.5",
            port=443,
            uuid=UUID,
            flow="xtls-rprx-vision",
            tls=True,
            tls_server_name="exit.example.net",
            tls_certificate=PEM,
            dns_server=DNS,
        ),
        "203.0.113.5",
    ),
    "trojan": (
        m.ExitSpec(
            kind="trojan",
            server="exit.example.net",
            port=443,
            password="trojan-secret",
            tls_insecure=True,
            dns_server=DNS,
        ),
        "203.0.113.6",
    ),
}
#: Golden cases: every kind, plus one with a domain allowlist and one without UDP.
CASES = [*EXITS, "socks5-allowlist", "socks5-noudp"]


BLOCKED = ("100.96.0.0/16", "10.0.0.5/32")


def layout(server_ip: str, allowlist_path: str = "") -> TunnelLayout:
    """The allowlist case is also the one with the credentials endpoint's upstream proxy."""
    upstream: dict[str, Any] = {}
    if allowlist_path:
        upstream = {
            "upstream_listen": "100.96.0.14",
            "upstream_port": 4181,
            "upstream_user": "cloudclaude",
            "upstream_password": "secret-of-the-gateway",
        }
    return TunnelLayout(
        tun_name="tun0",
        tun_address="100.96.0.1/30",
        routing_mark=MARK,
        server_ip=server_ip,
        allowlist_path=allowlist_path,
        blocked_cidrs=BLOCKED,
        **upstream,
    )


def render_case(case: str, allowlist_path: str = ALLOWLIST_PATH) -> dict[str, Any]:
    kind, _, variant = case.partition("-")
    spec, server_ip = EXITS[kind]
    if variant == "noudp":  # a CONNECT-only SOCKS5 server
        return render_config(attrs.evolve(spec, udp=False), layout(server_ip))
    return render_config(spec, layout(server_ip, allowlist_path if variant else ""))


def render(kind: str, **changes: Any) -> dict[str, Any]:
    spec, server_ip = EXITS[kind]
    return render_config(attrs.evolve(spec, **changes), layout(server_ip))


@pytest.mark.parametrize("case", CASES)
def test_rendering_matches_the_golden_file(case: str) -> None:
    path = GOLDEN / f"{case}.json"
    rendered = render_case(case)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rendered, indent=2, sort_keys=True) + "\n")
    assert rendered == json.loads(path.read_text())


@pytest.mark.parametrize("case", CASES)
def test_golden_files_pass_sing_box_check(case: str, tmp_path: Path) -> None:
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(json.dumps(render_allowlist(["example.com"])))
    golden = json.loads((GOLDEN / f"{case}.json").read_text())
    if "rule_set" in golden["route"]:
        assert golden == render_case(case)
        golden = render_case(case, str(allowlist))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(golden))
    result = subprocess.run(
        [str(sing_box_path()), "check", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_rendering_is_deterministic() -> None:
    for case in CASES:
        assert json.dumps(render_case(case)) == json.dumps(render_case(case))


@pytest.mark.parametrize("kind", EXITS)
def test_every_socket_carries_the_routing_mark(kind: str) -> None:
    config = render(kind)
    assert config["route"]["default_mark"] == MARK
    assert config["outbounds"][0]["routing_mark"] == MARK
    assert "auto_detect_interface" not in config["route"]


@pytest.mark.parametrize("kind", EXITS)
def test_dns_is_sniffed_then_hijacked_whatever_its_destination(kind: str) -> None:
    rules = render(kind)["route"]["rules"]
    assert rules[0] == {"action": "sniff", "sniffer": ["dns"]}
    # Only the exit test's UDP question (one source port, the exit's resolver) comes between.
    rest = [rule for rule in rules[1:] if rule != probe_rule()]
    assert {"protocol": "dns", "action": "hijack-dns"} in rest[:2]
    # Port 53 without a network: UDP and TCP, to any address.
    assert {"port": 53, "action": "hijack-dns"} in rest[:2]


@pytest.mark.parametrize("kind", EXITS)
def test_the_one_dns_server_is_the_exits_resolver_reached_through_the_exit(kind: str) -> None:
    dns = render(kind)["dns"]
    (server,) = dns["servers"]
    assert (server["tag"], server["server"], server["server_port"]) == ("remote", DNS, 53)
    assert dns["final"] == "remote" and dns["strategy"] == "ipv4_only"
    if kind == "direct":
        # sing-box refuses a detour to a plain direct outbound: the server dials, marked.
        assert "detour" not in server and server["routing_mark"] == MARK
    else:
        assert server["detour"] == "exit" and "routing_mark" not in server


def probe_rule(dns: str = DNS) -> dict[str, Any]:
    return {
        "network": "udp",
        "source_port": [UDP_PROBE_PORT],
        "ip_cidr": [f"{dns}/32"],
        "port": 53,
        "action": "route",
        "outbound": "exit",
    }


UDP_REJECT = {"network": "udp", "action": "reject"}


@pytest.mark.parametrize("kind", EXITS)
def test_dns_goes_over_tcp_through_every_proxy_exit(kind: str) -> None:
    # Many proxies do CONNECT only (ssh -D, Tor, microsocks, any HTTP proxy): TCP always works.
    for udp in (True, False):
        server = render(kind, udp=udp)["dns"]["servers"][0]
        assert server["type"] == ("udp" if kind == "direct" else "tcp"), server


@pytest.mark.parametrize("kind", EXITS)
def test_the_boxes_udp_goes_to_the_exit_only_where_it_carries_udp(kind: str) -> None:
    carried = render(kind)["route"]["rules"]
    refused = render(kind, udp=False)["route"]["rules"]
    if kind == "http":  # never, whatever the spec says
        assert UDP_REJECT in carried and probe_rule() not in carried
    else:
        assert UDP_REJECT not in carried and probe_rule() in carried
    assert UDP_REJECT in refused and probe_rule() not in refused
    # DNS (port 53, or sniffed as DNS) is still hijacked before UDP is refused.
    hijacks = [i for i, rule in enumerate(refused) if rule.get("action") == "hijack-dns"]
    assert len(hijacks) == 2 and max(hijacks) < refused.index(UDP_REJECT)


def test_the_udp_probe_path_never_reaches_a_refused_destination() -> None:
    spec, server_ip = EXITS["socks5"]
    for resolver in ("10.0.0.5", "100.96.3.4"):  # a host address, an address of the pool
        config = render_config(attrs.evolve(spec, dns_server=resolver), layout(server_ip))
        assert not [rule for rule in config["route"]["rules"] if "source_port" in rule]
    assert carries_udp(spec) and not carries_udp(attrs.evolve(spec, udp=False))
    assert not carries_udp(EXITS["http"][0])


@pytest.mark.parametrize("kind", EXITS)
def test_the_tun_is_ipv4_only_and_routed_by_the_agent(kind: str) -> None:
    (tun,) = render(kind)["inbounds"]
    assert tun["type"] == "tun" and tun["interface_name"] == "tun0"
    assert tun["address"] == ["100.96.0.1/30"]
    assert (tun["mtu"], tun["stack"], tun["auto_route"]) == (65535, "system", False)
    assert not [key for key in tun if "sniff" in key or "6" in key]


@pytest.mark.parametrize("kind", EXITS)
def test_icmp_is_rejected_and_everything_else_goes_to_the_exit(kind: str) -> None:
    route = render(kind)["route"]
    assert {"network": "icmp", "action": "reject"} in route["rules"]
    assert route["final"] == "exit"
    assert "rule_set" not in route


@pytest.mark.parametrize("kind", list(EXITS))
def test_the_hosts_addresses_and_other_boxes_are_refused_before_the_exit(kind: str) -> None:
    rules = render(kind)["route"]["rules"]
    blocked = rules.index({"ip_cidr": list(BLOCKED), "action": "reject"})
    before = [rule for rule in rules[:blocked] if "outbound" in rule]
    # Only the exit test's UDP question to the exit's resolver (not a refused address).
    assert before in ([], [probe_rule()]), before


@pytest.mark.parametrize("kind", [k for k in EXITS if k != "direct"])
def test_the_exit_outbound_dials_the_resolved_address(kind: str) -> None:
    spec, server_ip = EXITS[kind]
    (out,) = render(kind)["outbounds"]
    assert out["tag"] == "exit"
    assert (out["server"], out["server_port"]) == (server_ip, spec.port)


def test_outbound_fields_by_kind() -> None:
    assert render("direct")["outbounds"] == [
        {"type": "direct", "tag": "exit", "routing_mark": MARK}
    ]
    socks = render("socks5")["outbounds"][0]
    assert (socks["type"], socks["version"], socks["username"], socks["password"]) == (
        "socks",
        "5",
        "alice",
        "socks-secret",
    )
    assert "username" not in render("socks5", username="", password="")["outbounds"][0]
    ss = render("shadowsocks")["outbounds"][0]
    assert (ss["method"], ss["password"]) == ("aes-128-gcm", "ss-secret")
    vmess = render("vmess")["outbounds"][0]
    assert (vmess["uuid"], vmess["security"], vmess["alter_id"]) == (UUID, "auto", 0)
    assert render("vmess", security="aes-128-gcm")["outbounds"][0]["security"] == "aes-128-gcm"
    vless = render("vless")["outbounds"][0]
    assert (vless["uuid"], vless["flow"]) == (UUID, "xtls-rprx-vision")
    assert "flow" not in render("vless", flow="")["outbounds"][0]


def test_trojan_always_speaks_tls() -> None:
    tls = render("trojan", tls=False)["outbounds"][0]["tls"]
    assert tls["enabled"] is True
    # The server's name, not the resolved address, is what the certificate is checked for.
    assert tls["server_name"] == "exit.example.net"
    assert tls["insecure"] is True


def test_tls_only_when_asked_for_other_kinds() -> None:
    for kind in ("socks5", "shadowsocks"):
        assert "tls" not in render(kind, tls=True)["outbounds"][0]
    assert "tls" not in render("vmess")["outbounds"][0]
    assert render("vmess", tls=True)["outbounds"][0]["tls"]["enabled"] is True
    assert "tls" not in render("vless", tls=False)["outbounds"][0]
    assert "tls" not in render("http", tls=False)["outbounds"][0]


def test_tls_server_name_and_certificate() -> None:
    vless = render("vless")["outbounds"][0]["tls"]
    assert vless == {"enabled": True, "server_name": "exit.example.net", "certificate": PEM}
    # A server given as an address names nothing; a hostname names itself.
    assert "server_name" not in render("vless", tls_server_name="")["outbounds"][0]["tls"]
    http = render("http")["outbounds"][0]["tls"]
    assert http == {"enabled": True, "server_name": "proxy.example.net"}


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown exit kind"):
        render_config(m.ExitSpec(kind="wireguard", dns_server=DNS), layout("203.0.113.9"))
