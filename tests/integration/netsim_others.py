"""The simulated internet's exit servers that are not sing-box, from Debian: ``microsocks`` (a
SOCKS5 server doing CONNECT only, like ``ssh -D``), ``tinyproxy`` (an HTTP CONNECT proxy),
``ss-server`` of shadowsocks-libev (with UDP relay), ``v2ray`` 4.34 (vmess; vless over TLS)
and ``trojan`` (trojan-gfw). Each listens on its own address of the namespace and, but for
trojan-gfw, binds its outgoing connections to it, so that address is the exit's
``expected_ip``. They are run inside the namespace by ``netsim.SimInternet``, one process per
exit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.integration.netsim_layout import DNS_IP, OTHER_EXIT_SERVERS, VERIFY_URL

#: The program and Debian package of each exit's server (``make test`` installs them).
PROGRAMS = {
    "microsocks": ("microsocks", "microsocks"),
    "tinyproxy": ("tinyproxy", "tinyproxy"),
    "ss-server": ("ss-server", "shadowsocks-libev"),
    "v2ray-vmess": ("v2ray", "v2ray"),
    "v2ray-vless": ("v2ray", "v2ray"),
    "trojan": ("trojan", "trojan"),
}


def seen_by(name: str, address: str) -> str:
    """The address a service of the namespace at ``address`` sees exit ``name`` come from."""
    if name == "trojan":  # no outgoing bind: the kernel's source for a local destination
        return address
    return str(OTHER_EXIT_SERVERS[name]["server"])


def seen_as(name: str) -> str:
    """What the whoami at ``VERIFY_URL`` sees of exit ``name`` (its ``expected_ip``)."""
    return seen_by(name, VERIFY_URL.split("/")[2])


def server_argv(name: str, workdir: Path) -> list[str]:
    """The command line of exit ``name``'s server (its configuration written into
    ``workdir``, where the simulated internet's ``sim-cert.pem`` and ``sim-key.pem`` are)."""
    spec = OTHER_EXIT_SERVERS[name]
    program, package = PROGRAMS[name]
    binary = shutil.which(program)
    if binary is None:
        raise RuntimeError(f"{program} is missing: apt-get install {package}")
    address, port = spec["server"], str(spec["port"])
    cert, key = workdir / "sim-cert.pem", workdir / "sim-key.pem"
    if name == "microsocks":
        return [binary, "-i", address, "-p", port, "-b", address, *_auth(spec, "-u", "-P")]
    if name == "tinyproxy":
        config = workdir / "tinyproxy.conf"
        config.write_text(_tinyproxy_config(spec))
        return [binary, "-d", "-c", str(config)]
    if name == "ss-server":
        return [
            binary,
            "-s",
            address,
            "-p",
            port,
            "-b",
            address,
            "-k",
            spec["password"],
            "-m",
            spec["method"],
            "-d",
            DNS_IP,
            "-u",
        ]
    if name.startswith("v2ray-"):
        config = workdir / f"{name}.json"
        config.write_text(json.dumps(_v2ray_config(spec, cert, key), indent=1))
        return [binary, "-config", str(config)]
    if name == "trojan":
        config = workdir / "trojan.json"
        config.write_text(json.dumps(_trojan_config(spec, cert, key), indent=1))
        return [binary, "-c", str(config)]
    raise ValueError(f"unknown server {name!r}")


def _auth(spec: dict[str, Any], user_flag: str, password_flag: str) -> list[str]:
    return [user_flag, spec["username"], password_flag, spec["password"]]


def _tinyproxy_config(spec: dict[str, Any]) -> str:
    # No ConnectPort line: CONNECT to every port (DNS over TCP to port 53 included).
    return (
        "User nobody\n"
        "Group nogroup\n"
        f"Port {spec['port']}\n"
        f"Listen {spec['server']}\n"
        f"Bind {spec['server']}\n"
        "Timeout 60\n"
        "MaxClients 64\n"
        "LogLevel Info\n"
        "DisableViaHeader Yes\n"
        f"BasicAuth {spec['username']} {spec['password']}\n"
    )


def _v2ray_config(spec: dict[str, Any], cert: Path, key: Path) -> dict[str, Any]:
    inbound: dict[str, Any] = {"listen": spec["server"], "port": spec["port"]}
    if spec["kind"] == "vmess":
        inbound["protocol"] = "vmess"
        inbound["settings"] = {"clients": [{"id": spec["uuid"], "alterId": spec["alter_id"]}]}
    else:
        inbound["protocol"] = "vless"
        inbound["settings"] = {"clients": [{"id": spec["uuid"]}], "decryption": "none"}
        certificate = {"certificateFile": str(cert), "keyFile": str(key)}
        inbound["streamSettings"] = {
            "security": "tls",
            "tlsSettings": {"certificates": [certificate]},
        }
    return {
        "log": {"loglevel": "warning"},
        "inbounds": [inbound],
        "outbounds": [{"protocol": "freedom", "sendThrough": spec["server"]}],
    }


def _trojan_config(spec: dict[str, Any], cert: Path, key: Path) -> dict[str, Any]:
    # Anything that is not trojan goes to the whoami (trojan-gfw's "remote" fallback).
    return {
        "run_type": "server",
        "local_addr": spec["server"],
        "local_port": spec["port"],
        "remote_addr": VERIFY_URL.split("/")[2],
        "remote_port": 80,
        "password": [spec["password"]],
        "log_level": 2,
        "ssl": {"cert": str(cert), "key": str(key), "alpn": ["http/1.1"]},
        "tcp": {"prefer_ipv4": True},
    }
