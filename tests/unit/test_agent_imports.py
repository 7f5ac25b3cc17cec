"""The privileged agent must not depend on the daemon or the web UI (DESIGN.md sections 1, 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO_ROOT / "agent"
FORBIDDEN = ("cloudclaude", "web")


def imported_modules(tree: ast.AST) -> list[str]:
    """Top-level package names of every absolute import in ``tree``."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return names


AGENT_FILES = sorted(AGENT_DIR.rglob("*.py"))


def test_agent_package_has_sources() -> None:
    assert (AGENT_DIR / "__init__.py") in AGENT_FILES


def test_helper_sees_forbidden_imports() -> None:
    tree = ast.parse("import web.app\nfrom cloudclaude.errors import X\nfrom . import y\n")
    assert imported_modules(tree) == ["web", "cloudclaude"]


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_agent_module_does_not_import_daemon_or_web(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [name for name in imported_modules(tree) if name in FORBIDDEN]
    assert bad == [], f"{path} imports {bad}"
