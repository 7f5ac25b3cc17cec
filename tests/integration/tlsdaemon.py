"""A real daemon process serving TLS from its local CA, for the TLS, Caddy and audit tests."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import attrs

from tests.integration.processes import daemon, free_port, healthy, wait_for


@attrs.frozen
class TlsDaemon:
    proc: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        """The local CA's certificate: what a client that verifies names trusts."""
        return self.state_dir / "tls" / "ca.pem"

    def verify(self) -> ssl.SSLContext:
        """A client context that trusts the local CA (and checks names, as browsers do)."""
        return ssl.create_default_context(cafile=str(self.ca))

    @property
    def cert(self) -> Path:
        return self.state_dir / "tls" / "server.pem"


def daemon_env(database_url: str, state_dir: Path, port: int) -> dict[str, str]:
    return {
        "CLOUDCLAUDE_DATABASE__URL": database_url,
        "CLOUDCLAUDE_STATE_DIR": str(state_dir),
        "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
        "CLOUDCLAUDE_WEB__PORT": str(port),
        "CLOUDCLAUDE_CTL__SOCKET": str(state_dir / "ctl.sock"),
        "CLOUDCLAUDE_AUTH__ARGON2_TIME_COST": "1",
        "CLOUDCLAUDE_AUTH__ARGON2_MEMORY_KIB": "8192",
        "CLOUDCLAUDE_LOG__FORMAT": "json",
    }


@contextmanager
def tls_daemon(
    database_url: str, state_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[TlsDaemon]:
    """``cloudclaude run`` with the default web settings (TLS from the local CA) and ``env``.

    With ``web.tls_cert`` in ``env`` there is no local CA: readiness is checked unverified."""
    operator_cert = "CLOUDCLAUDE_WEB__TLS_CERT" in (env or {})
    port = free_port()
    log = state_dir / "daemon.log"
    full_env = {**daemon_env(database_url, state_dir, port), **(env or {})}
    with daemon(["run"], full_env, log) as proc:
        running = TlsDaemon(proc, port, state_dir, log)

        def ready() -> bool:
            if proc.poll() is not None:
                return True
            if operator_cert:
                return healthy(running.base, False)
            return running.ca.exists() and healthy(running.base, running.verify())

        try:
            wait_for(ready, 60, "/healthz over TLS")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the daemon's log:\n{log.read_text()[-3000:]}") from exc
        assert proc.poll() is None, log.read_text()
        yield running


@attrs.frozen
class PlainDaemon:
    """A daemon run with ``web.tls = "off"``: plain HTTP, meant to sit behind a proxy."""

    proc: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ctl_socket(self) -> Path:
        return self.state_dir / "ctl.sock"


@contextmanager
def plain_daemon(
    database_url: str, state_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[PlainDaemon]:
    """``cloudclaude run`` with ``web.tls = "off"`` (plain HTTP on loopback) and ``env``."""
    port = free_port()
    log = state_dir / "daemon.log"
    full_env = {
        **daemon_env(database_url, state_dir, port),
        "CLOUDCLAUDE_WEB__TLS": "off",
        **(env or {}),
    }
    with daemon(["run"], full_env, log) as proc:
        running = PlainDaemon(proc, port, state_dir, log)
        try:
            wait_for(
                lambda: proc.poll() is not None or healthy(running.base), 60, "/healthz over HTTP"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the daemon's log:\n{log.read_text()[-3000:]}") from exc
        assert proc.poll() is None, log.read_text()
        yield running
