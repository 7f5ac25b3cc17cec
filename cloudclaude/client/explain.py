"""The error registry, offline: what a code means, why it happens and what to do."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def registry() -> dict[str, dict[str, Any]]:
    """Every registry row by code (the copy shipped with the CLI)."""
    text = resources.files(__package__).joinpath("registry.json").read_text(encoding="utf-8")
    rows = json.loads(text)
    return {row["code"]: row for row in rows}


def lookup(code: str) -> dict[str, Any] | None:
    """The row for ``code`` (``AUTH_001``) or its slug (``auth_invalid``); None if unknown."""
    rows = registry()
    wanted = code.strip()
    if wanted.upper() in rows:
        return rows[wanted.upper()]
    for row in rows.values():
        if row["slug"] == wanted.lower():
            return row
    return None


def describe(row: dict[str, Any]) -> str:
    return (
        f"{row['code']} {row['slug']} (HTTP {row['http_status']}, exit {row['exit_code']})\n"
        f"  {row['message']}\n"
        f"  Why: {row['cause']}\n"
        f"  Fix: {row['fix']}"
    )
