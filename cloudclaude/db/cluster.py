"""A private PostgreSQL cluster in a directory, for ``cloudclaude up`` and the test suite.

The cluster listens on a Unix socket only (no TCP), in a socket directory of mode 0700, with
``trust`` authentication: only root and the cluster's owner can reach it. ``initdb`` and
``postgres`` refuse to run as root, so as root they run as ``owner``: the ``postgres`` system
user for the test suite, the daemon's own user under ``cloudclaude up`` (which then reaches it
through the socket directory it owns). A cluster made for another owner is handed over.
Postgres runs in its own session so a Ctrl-C in the terminal reaches the daemon first; the
daemon stops Postgres after it has drained.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
DEFAULT_DB = "cloudclaude"


class ClusterError(Exception):
    """The private cluster could not be initialised, started or stopped."""


def pg_bin_dir() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ClusterError(
        "PostgreSQL server binaries not found; install them with `apt-get install postgresql`"
    )


class PrivateCluster:
    """One data directory plus a socket directory; ``start``/``stop`` manage the server."""

    def __init__(
        self, data_dir: Path, socket_dir: Path, port: int = 5432, owner: str = "postgres"
    ) -> None:
        self.owner = owner
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._bin = pg_bin_dir()
        self._as_root = os.geteuid() == 0

    def dsn(self, database: str = DEFAULT_DB) -> str:
        return f"postgresql:///{database}?host={self.socket_dir}&port={self.port}&user=postgres"

    def _owner(self) -> tuple[int, int]:
        if not self._as_root:
            return os.geteuid(), os.getegid()
        try:
            entry = pwd.getpwnam(self.owner)
        except KeyError as exc:
            raise ClusterError(f"no {self.owner!r} system user") from exc
        return entry.pw_uid, entry.pw_gid

    def _argv(self, tool: str, *args: str) -> list[str]:
        argv = [str(self._bin / tool), *args]
        return ["runuser", "-u", self.owner, "--", *argv] if self._as_root else argv

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def ensure_initialised(self) -> bool:
        """Run initdb when the data directory holds no cluster; True when it created one."""
        if self.initialised:
            self._hand_over()
            return False
        uid, gid = self._owner()
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chown(directory, uid, gid)
            directory.chmod(0o700)
        result = subprocess.run(
            self._argv(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed: {result.stderr.decode(errors='replace')[-2000:]}")
        return True

    def _hand_over(self) -> None:
        """A cluster another user initialised (an earlier ``up``) becomes the owner's."""
        uid, gid = self._owner()
        if not self._as_root or self.data_dir.stat().st_uid == uid:
            return
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            os.lchown(path, uid, gid)
        if self.log_file.exists():
            os.chown(self.log_file, uid, gid)

    def start(self, wait_s: float = 60.0) -> None:
        """Start the server and wait until it accepts connections."""
        if not self.initialised:
            raise ClusterError(f"no cluster in {self.data_dir}; initialise it first")
        uid, gid = self._owner()
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chown(self.socket_dir, uid, gid)
        with open(self.log_file, "ab") as log:
            os.chown(self.log_file, uid, gid)
            self._proc = subprocess.Popen(
                self._argv(
                    "postgres",
                    "-D",
                    str(self.data_dir),
                    "-k",
                    str(self.socket_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "unix_socket_permissions=0700",
                    "-c",
                    "fsync=on",
                    "-c",
                    "max_connections=200",
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ClusterError(
                    f"postgres exited with {self._proc.returncode}; see {self.log_file}:\n"
                    + self._log_tail()
                )
            if self._ready():
                return
            time.sleep(0.1)
        self.stop()
        raise ClusterError(f"postgres did not become ready in {wait_s:.0f}s; see {self.log_file}")

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(self._bin / "pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(self.port)],
            check=False,
        )
        return result.returncode == 0

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def ensure_database(self, name: str = DEFAULT_DB, template: str | None = None) -> None:
        """CREATE DATABASE ``name`` unless it exists (optionally from ``template``)."""
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_ident(name)}'")
        if exists.strip() == "1":
            return
        clause = f' TEMPLATE "{_ident(template)}"' if template else ""
        self.psql(f'CREATE DATABASE "{_ident(name)}"{clause}')

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{_ident(name)}" WITH (FORCE)')

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self._bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"psql failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode()

    def stop(self, wait_s: float = 30.0) -> None:
        """Fast shutdown (SIGINT), escalating to immediate shutdown (SIGQUIT), then SIGKILL."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for sig, grace in ((signal.SIGINT, wait_s), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ClusterError(f"unsafe database name {name!r}")
    return name
