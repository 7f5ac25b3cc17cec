"""Every problem of an exit form at once, next to its field.

``domain.exit_schema.parse_exit`` stops at the first bad field (the API answers with one
error). The form shows them all: after each error its field is set aside, first by dropping
the value (a value that is only wrong beside another field), then by a placeholder known to
pass, and the check runs again, until it passes or a field keeps failing. Only the domain's
own checks run, so the form says nothing the API would not; the first thing each field was
refused for is what shows next to it. The domain still checks the real values when it saves.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

from cloudclaude.domain.exit_schema import SS_METHODS, parse_exit
from cloudclaude.errors import CloudClaudeError

_ADDRESS = "192.0.2.1"  # TEST-NET-1: never dialled, only checked
#: A value each field accepts whatever the others hold (``password``: see ``_placeholder``).
PLACEHOLDERS: dict[str, Any] = {
    "label": "form-check",
    "server": _ADDRESS,
    "port": 1,
    "dns_server": _ADDRESS,
    "expected_ip": _ADDRESS,
    "expected_resolvers": [_ADDRESS],
    "verify_url": f"http://{_ADDRESS}/",
    "verify_dns_name": "example.com",
    "username": "form-check",
    "password": "form-check",
    "uuid": str(uuid.UUID(int=1)),
    "method": "aes-128-gcm",
    "security": "auto",
    "flow": "",
    "alter_id": 0,
    "tls": True,
    "tls_server_name": "example.com",
    "tls_insecure": False,
    "tls_certificate": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
    "udp": False,
}
#: Tries per field: drop the value, then the placeholder; a third failure ends the search.
_TRIES = 2


def _placeholder(name: str, trial: Mapping[str, Any]) -> Any:
    if name == "password" and trial.get("kind") == "shadowsocks":
        size = SS_METHODS.get(str(trial.get("method")))
        if size:  # a 2022 method takes a base64 key of its size
            return base64.b64encode(bytes(size)).decode()
    return PLACEHOLDERS.get(name)


def every_problem(
    data: Mapping[str, Any],
    known: Mapping[str, str] | None = None,
    *,
    stored: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Field → the first problem found with it (``known``: problems found before, e.g. a
    number that did not parse; those fields are checked with a placeholder)."""
    problems = dict(known or {})
    trial = dict(data)
    tries = dict.fromkeys(problems, _TRIES)
    for name in problems:
        trial[name] = _placeholder(name, trial)
        if trial[name] is None:
            del trial[name]
    for _ in range(_TRIES * (len(PLACEHOLDERS) + len(trial)) + 1):  # each field tried twice
        try:
            parse_exit(trial, stored=stored)
        except CloudClaudeError as exc:
            field = exc.extra.get("field")
            if exc.error.slug != "exit_invalid" or not isinstance(field, str):
                raise
            problems.setdefault(field, exc.detail or exc.error.message)
            tries[field] = tries.get(field, 0) + 1
            if tries[field] > _TRIES:
                break
            stand_in = _placeholder(field, trial)
            if (tries[field] == 1 and trial.get(field) is not None) or stand_in is None:
                trial.pop(field, None)
            else:
                trial[field] = stand_in
        else:
            break
    return problems
