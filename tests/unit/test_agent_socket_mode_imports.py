"""A daemon in socket mode never loads the agent runtime (DESIGN.md section 11).

The runtime pulls pyroute2 and the Docker operations; only the embedded mode may import it, and
lazily. Checked in a fresh interpreter, since this test process may have imported anything.
"""

from __future__ import annotations

import json
import subprocess
import sys

ENTRY_MODULES = (
    "cloudclaude.app.supervisor",
    "cloudclaude.app.cli",
    "web.app",
    "cloudclaude.ctl.cli",
)
FORBIDDEN = ("agent.runtime", "agent.ops", "agent.egress", "pyroute2")

_SCRIPT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_by(*modules: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *modules],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _forbidden(loaded: list[str]) -> list[str]:
    return [n for n in loaded if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]


def test_the_daemon_entry_modules_do_not_import_the_agent_runtime() -> None:
    loaded = _loaded_by(*ENTRY_MODULES)
    assert set(ENTRY_MODULES) <= set(loaded)
    assert _forbidden(loaded) == []


def test_the_check_sees_the_runtime_when_it_is_imported() -> None:
    assert "agent.runtime" in _forbidden(_loaded_by("agent.runtime"))
