"""The daemon itself: ``status``, ``reload``, ``keys rotate`` and ``audit tail``."""

from __future__ import annotations

from typing import Any

import attrs

from cloudclaude.ctl.registry import Request, arg, command, group


def print_status(data: dict[str, Any]) -> None:
    print(f"cloudclaude {data['version']}  pid {data['pid']}  up {data['uptime_s']:.0f}s")
    for name, state in data["components"].items():
        print(f"  {name:<10} {state}")
    db = data["database"]
    print(f"  {'database':<10} {db['status']} ({db['latency_ms']} ms)")
    agent = data["agent"]
    if agent["status"] == "ok":
        about = f"{agent['mode']}, version {agent['version']} ({agent['latency_ms']} ms)"
    else:
        about = f"{agent['mode']}: {agent.get('detail', '')}"
    print(f"  {'agent':<10} {agent['status']} {about}")


@command("status", "components, database, agent, version, uptime", printer=print_status)
@attrs.frozen(kw_only=True)
class Status(Request):
    pass


def print_reload(data: dict[str, Any]) -> None:
    print("applied: " + (", ".join(data["applied"]) or "nothing"))
    if data["needs_restart"]:
        print("need a restart: " + ", ".join(data["needs_restart"]))


@command("reload", "re-read the settings (like SIGHUP)", printer=print_reload)
@attrs.frozen(kw_only=True)
class Reload(Request):
    pass


group("keys", "token signing keys")


def print_rotated(data: dict[str, Any]) -> None:
    print(f"new signing key {data['kid']}; usable keys: {', '.join(data['usable'])}")


@command(
    "keys.rotate",
    "make a new signing key; tokens of older keys stay valid until they expire",
    printer=print_rotated,
)
@attrs.frozen(kw_only=True)
class KeysRotate(Request):
    pass


group("audit", "read the audit log")


def print_event(event: dict[str, Any]) -> None:
    meta = " ".join(f"{k}={v}" for k, v in event["metadata"].items())
    print(f"{event['at']}  {event['type']:<28} {event['actor']:<22} {meta}", flush=True)


def print_events(data: dict[str, Any]) -> None:
    for event in data.get("items", []):
        print_event(event)


@command(
    "audit.tail",
    "the latest audit events",
    arg("-n", "--limit", type=int, default=20),
    arg("-f", "--follow", action="store_true", help="keep printing new events"),
    printer=print_events,
    events=print_event,
)
@attrs.frozen(kw_only=True)
class AuditTail(Request):
    """The latest ``limit`` events; with ``follow``, then each new one as an event reply."""

    limit: int = 20
    follow: bool = False
