"""The exit form's problems, all at once (web.pages.exit_problems): each field's first
refusal by the domain's own checks, and nothing for a good exit."""

from __future__ import annotations

from typing import Any

from web.pages.exit_problems import every_problem

GOOD: dict[str, Any] = {
    "kind": "socks5",
    "label": "paris",
    "server": "198.18.2.1",
    "port": 1080,
    "username": "u",
    "password": "socks-secret-77",
    "expected_ip": "198.18.2.1",
    "dns_server": "198.18.1.53",
    "verify_url": "http://198.18.1.1/",
    "verify_dns_name": "myaddr.sim.test",
}


def test_a_good_exit_has_no_problems() -> None:
    assert every_problem(GOOD) == {}


def test_every_bad_field_is_named_with_its_own_problem() -> None:
    bad = {
        **GOOD,
        "label": "no spaces allowed",
        "server": "::1",
        "port": 70000,
        "dns_server": "not-an-ip",
        "verify_url": "ftp://x",
    }
    del bad["expected_ip"]
    problems = every_problem(bad)
    assert set(problems) == {"label", "server", "port", "dns_server", "verify_url", "expected_ip"}
    assert "1..65535" in problems["port"]
    assert "not an IP address" in problems["dns_server"]
    assert "http:// or https://" in problems["verify_url"]


def test_a_problem_found_before_keeps_its_words() -> None:
    body = {k: v for k, v in GOOD.items() if k != "port"}
    problems = every_problem({**body, "label": ""}, {"port": "port: must be a number"})
    assert problems == {"port": "port: must be a number", "label": "label: required"}


def test_cross_field_and_kind_rules() -> None:
    body = {**GOOD, "kind": "shadowsocks", "method": "2022-blake3-aes-128-gcm"}
    del body["username"]
    problems = every_problem({**body, "password": "short", "label": ""})
    assert set(problems) == {"password", "label"}, problems
    http = {**GOOD, "kind": "http", "tls_server_name": "example.com", "username": None}
    problems = every_problem(http)
    assert set(problems) == {"username", "tls_server_name"}, problems
    assert "only with tls" in problems["tls_server_name"]


def test_a_secret_kept_from_before_is_no_problem_on_edit() -> None:
    body = {**GOOD, "kind": "trojan"}
    for name in ("username", "password"):
        del body[name]
    assert "password" in every_problem(body)
    assert every_problem(body, stored=frozenset({"password"})) == {}
