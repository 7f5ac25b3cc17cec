"""The daemon's own Python runtime: a venv from Debian's python3 that an unprivileged user can run.

A checkout may sit in root's home and its ``.venv`` comes from pyenv's python there, neither of
which the ``cloudclaude`` user may read (DESIGN.md section 13). So ``cloudclaude up`` installs
the package (not editable: the files are copied) into ``/opt/cloudclaude/runtime``, made with
``/usr/bin/python3``, root-owned and world-readable. It is rebuilt only when the source changed
(a hash of the package files is kept beside it), under a lock so two ``up`` runs never race.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = Path("/opt/cloudclaude/runtime")
SYSTEM_PYTHON = "/usr/bin/python3"
#: What the installed package is built from (``web`` includes the vendored front-end files).
_PACKAGE_PARTS = ("cloudclaude", "agent", "web")
_TOP_FILES = ("pyproject.toml", "README.md")
_SKIP = {"__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}


class RuntimeBuildError(Exception):
    """The runtime could not be built (pip's output says why)."""


def _files(root: Path) -> Iterator[Path]:
    for name in _TOP_FILES:
        yield root / name
    for part in _PACKAGE_PARTS:
        for dirpath, dirnames, filenames in os.walk(root / part):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
            for filename in sorted(filenames):
                if not filename.endswith(".pyc"):
                    yield Path(dirpath) / filename


def source_hash(root: Path = SOURCE_ROOT) -> str:
    digest = hashlib.sha256()
    for path in _files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure(
    root: Path = SOURCE_ROOT,
    target: Path = RUNTIME_DIR,
    say: Callable[[str], None] = print,
) -> Path:
    """The runtime's ``cloudclaude`` executable, (re)built when the source changed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o755)
    wanted = source_hash(root)
    stamp = target / ".source-hash"
    with (target.parent / ".runtime.lock").open("wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text().strip() == wanted:
            return target / "bin" / "cloudclaude"
        if not (target / "bin" / "python").exists():
            say(f"==> making the daemon's runtime in {target} (Debian python3, first run only)")
            _run([SYSTEM_PYTHON, "-m", "venv", str(target)])
        say(f"==> installing cloudclaude into {target}")
        with tempfile.TemporaryDirectory(prefix="cc-runtime-") as scratch:
            copy = Path(scratch) / "src"
            for path in _files(root):
                dest = copy / path.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
            pip = [str(target / "bin" / "pip"), "install", "-q", "--no-cache-dir"]
            _run([*pip, "--disable-pip-version-check", str(copy)])
        stamp.write_text(wanted + "\n")
    return target / "bin" / "cloudclaude"


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeBuildError(
            f"{' '.join(argv[:3])} failed:\n{(done.stdout + done.stderr)[-2000:]}"
        )
