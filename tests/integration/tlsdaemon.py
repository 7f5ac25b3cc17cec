"""A real daemon process on a loopback port, for the TLS, Caddy and audit tests: serving TLS from
its local CA (the default), or plain HTTP (``web.tls = "off"``) to sit behind a proxy."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import attrs

from tests.integration.processes import daemon, free_port, healthy, wait_for


@attrs.frozen
class RunningDaemon:
    proc: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path
    tls: bool = True

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        """The local CA's certificate: what a client that verifies names trusts."""
        return self.state_dir / "tls" / "ca.pem"

    def verify(self) -> ssl.SSLContext:
        """A client context that trusts the local CA (and checks names, as browsers do)."""
        return ssl.create_default_context(cafile=str(self.ca))

    @property
    def ctl_socket(self) -> Path:
        return self.state_dir / "ctl.sock"


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
def _serving(
    database_url: str, state_dir: Path, env: Mapping[str, str], *, tls: bool
) -> Iterator[RunningDaemon]:
    """``cloudclaude run`` with ``env``, once its /healthz answers (its log on a timeout).

    Over TLS it is checked against the local CA, or unverified when ``env`` brings an
    operator's certificate (there is no local CA then)."""
    operator_cert = "CLOUDCLAUDE_WEB__TLS_CERT" in env
    port = free_port()
    log = state_dir / "daemon.log"
    full_env = {**daemon_env(database_url, state_dir, port), **env}
    with daemon(["run"], full_env, log) as proc:
        running = RunningDaemon(proc, port, state_dir, log, tls)

        def ready() -> bool:
            if proc.poll() is not None:
                return True
            if not tls or operator_cert:
                return healthy(running.base, False)
            return running.ca.exists() and healthy(running.base, running.verify())

        try:
            wait_for(ready, 60, "/healthz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the daemon's log:\n{log.read_text()[-3000:]}") from exc
        assert proc.poll() is None, log.read_text()
        yield running


def tls_daemon(
    database_url: str, state_dir: Path, env: Mapping[str, str] | None = None
) -> contextlib.AbstractContextManager[RunningDaemon]:
    """The default web settings (TLS from the local CA), plus ``env``."""
    return _serving(database_url, state_dir, env or {}, tls=True)


def plain_daemon(
    database_url: str, state_dir: Path, env: Mapping[str, str] | None = None
) -> contextlib.AbstractContextManager[RunningDaemon]:
    """``web.tls = "off"`` (plain HTTP on loopback, behind a proxy), plus ``env``."""
    return _serving(
        database_url, state_dir, {"CLOUDCLAUDE_WEB__TLS": "off", **(env or {})}, tls=False
    )
