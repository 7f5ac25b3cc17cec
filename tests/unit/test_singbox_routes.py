"""What a gateway's sing-box routes where: the domain allowlist (matched by sing-box itself) and
the credentials endpoint's upstream proxy, which the allowlist does not stand in the way of."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.egress.singbox_binary import sing_box_path
from agent.egress.singbox_config import render_allowlist
from tests.unit.test_singbox_config import ALLOWLIST_PATH, BLOCKED, render, render_case


def test_an_allowlist_routes_only_its_domains_and_rejects_the_rest() -> None:
    config = render_case("socks5-allowlist")
    route = config["route"]
    assert route["rule_set"] == [
        {"type": "local", "tag": "allowlist", "format": "source", "path": ALLOWLIST_PATH}
    ]
    rules = route["rules"]
    allow = rules.index({"rule_set": "allowlist", "action": "route", "outbound": "exit"})
    # Hijacked DNS still works (before the allowlist), everything else not allowed is rejected.
    assert allow > rules.index({"port": 53, "action": "hijack-dns"})
    assert rules[allow + 1 :] == [{"action": "reject"}]
    # Names come from the box's own DNS answers, never from a sniffed SNI or Host header.
    assert config["dns"]["reverse_mapping"] is True
    assert rules[0]["sniffer"] == ["dns"]


def test_render_allowlist_is_a_sorted_domain_suffix_rule_set() -> None:
    assert render_allowlist(["b.example", "a.example", "b.example"]) == {
        "version": 5,
        "rules": [{"domain_suffix": ["a.example", "b.example"]}],
    }
    # No domains: no allowlist, every destination (the file stays, to switch it on live).
    assert render_allowlist([]) == {"version": 5, "rules": [{"ip_cidr": ["0.0.0.0/0"]}]}


def test_verification_endpoints_stay_allowed_under_any_allowlist() -> None:
    assert render_allowlist(["a.example"], ["198.18.1.1", "check.example"]) == {
        "version": 5,
        "rules": [
            {"domain_suffix": ["a.example", "check.example"]},
            {"ip_cidr": ["198.18.1.1/32"]},
        ],
    }


@pytest.mark.parametrize(
    ("domain", "matches"),
    [
        ("example.com", True),
        ("api.example.com", True),
        ("a.b.example.com", True),
        ("badexample.com", False),
        ("example.com.evil.net", False),
        ("example.org", False),
    ],
)
def test_the_allowlist_matches_a_domain_and_its_subdomains(
    tmp_path: Path, domain: str, matches: bool
) -> None:
    rule_set = tmp_path / "allowlist.json"
    rule_set.write_text(json.dumps(render_allowlist(["example.com"])))
    result = subprocess.run(
        [str(sing_box_path()), "rule-set", "match", "-f", "source", str(rule_set), domain],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert ("match rules" in result.stdout + result.stderr) is matches


def test_the_upstream_proxy_listens_on_the_uplink_with_a_password_and_skips_the_allowlist() -> None:
    config = render_case("socks5-allowlist")
    inbound = next(i for i in config["inbounds"] if i["tag"] == "llm-upstream")
    assert inbound["type"] == "http" and inbound["listen"] == "100.96.0.14"
    assert inbound["users"] == [{"username": "cloudclaude", "password": "secret-of-the-gateway"}]
    rules = config["route"]["rules"]
    to_exit = rules.index({"inbound": ["llm-upstream"], "action": "route", "outbound": "exit"})
    blocked = next(i for i, r in enumerate(rules) if r.get("ip_cidr") == list(BLOCKED))
    allowlist_reject = rules.index({"action": "reject"})
    assert blocked < to_exit < allowlist_reject
    assert all(i["tag"] != "llm-upstream" for i in render("socks5")["inbounds"])
