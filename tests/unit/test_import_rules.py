"""The daemon's layering (DESIGN.md section 11), checked on the source itself.

Beside ruff's banned-imports rules (which catch a violation as it is typed), this reads every
module's imports and string literals, so a rule cannot be switched off by a stray ``noqa``:

- ``web/`` and ``cloudclaude/ctl/`` reach data only through ``cloudclaude.domain``;
- only ``cloudclaude/db/`` imports asyncpg or holds SQL;
- only ``cloudclaude/db/`` and ``cloudclaude/sshproxy/`` use asyncio;
- only ``cloudclaude/domain/host_states.py`` writes a host's status row;
- no source module is over 400 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("cloudclaude", "web", "agent") for p in (ROOT / d).rglob("*.py"))
ALL_PY = sorted(
    p for d in ("cloudclaude", "web", "agent", "tests", "bench") for p in (ROOT / d).rglob("*.py")
)
SQL = re.compile(
    r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s)"
)
MAX_LINES = 400


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imports(tree: ast.AST) -> list[str]:
    """Every absolute module an ``import`` names (``from a.b import c`` gives ``a.b.c`` too)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_checks_see_what_they_look_for() -> None:
    tree = ast.parse("from cloudclaude import db\nimport asyncpg.pool\nx = 'SELECT 1 FROM t'\n")
    found = imports(tree)
    assert any(under(n, "cloudclaude.db") for n in found)
    assert any(under(n, "asyncpg") for n in found)
    assert SQL.match("SELECT 1 FROM t") and not SQL.match("Select a host to start")


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if rel(p).startswith(("web/", "cloudclaude/ctl/"))],
    ids=rel,
)
def test_web_and_ctl_reach_data_only_through_the_domain(path: Path) -> None:
    bad = [n for n in imports(parsed(path)) if under(n, "cloudclaude.db") or under(n, "asyncpg")]
    assert bad == [], f"{rel(path)} imports {bad}; go through cloudclaude.domain"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_only_db_imports_asyncpg_or_holds_sql(path: Path) -> None:
    if rel(path).startswith("cloudclaude/db/"):
        return
    tree = parsed(path)
    assert not [n for n in imports(tree) if under(n, "asyncpg")], f"{rel(path)} imports asyncpg"
    sql = [
        node.value[:60]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    ]
    assert sql == [], f"{rel(path)} holds SQL: {sql}"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_asyncio_stays_in_db_and_sshproxy(path: Path) -> None:
    if rel(path).startswith(("cloudclaude/db/", "cloudclaude/sshproxy/")):
        return
    bad = [n for n in imports(parsed(path)) if under(n, "asyncio")]
    assert bad == [], f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_only_the_state_machine_writes_a_hosts_status(path: Path) -> None:
    if rel(path) == "cloudclaude/domain/host_states.py":
        return
    writes = [
        node.lineno
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "write"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "hosts_repo"
    ]
    assert writes == [], f"{rel(path)} writes hosts directly at lines {writes}"


@pytest.mark.parametrize("path", ALL_PY, ids=rel)
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{rel(path)} has {lines} lines; split it by concept"
