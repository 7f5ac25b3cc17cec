"""The chaos campaign's processes: Postgres, the socket agent and the daemon, each killable.

Every process runs in its own session and is started again the way ``make up`` starts it
(``PrivateCluster.start``, ``cloudclaude-agent`` on its socket, the daemon's supervisor).
``close`` stops everything and removes what the agent made (boxes, gateways, home volumes),
also after a failure; the scratch directory is the caller's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import attrs
import trio

from bench.agents import agent_argv
from bench.api import DATABASE, VENV_BIN
from bench.chaos_dockerd import PrivateDockerd
from bench.simnet import clear_agent, exit_label
from cloudclaude.agent_client.handle import agent_config, instance_of, open_agent
from cloudclaude.core.settings import AgentSettings, Settings
from cloudclaude.db.cluster import PrivateCluster
from tests.integration.boxes import EGRESS_POOL
from tests.integration.netsim import SimInternet

REPO = Path(__file__).resolve().parent.parent
READY_S = 90.0
DOCKER_SOCKET = "/var/run/docker.sock"
RECONCILE_PERIOD_S = 2.0
LEASE_S = 6


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _stop(proc: subprocess.Popen[bytes] | None, grace_s: float = 30.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)


@attrs.define
class ChaosStack:
    root: Path
    sim: SimInternet
    port: int
    #: The run's own dockerd (then it may be killed too), or None for the shared one.
    dockerd: PrivateDockerd | None = None
    cluster: PrivateCluster = attrs.field(init=False)
    agent_proc: subprocess.Popen[bytes] | None = None
    daemon_proc: subprocess.Popen[bytes] | None = None
    restarts: dict[str, int] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.cluster = PrivateCluster(self.root / "postgres", self.root / "run" / "postgres")

    @property
    def agent_state(self) -> Path:
        return self.root / "agent"

    @property
    def agent_socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def instance(self) -> str:
        return instance_of(self.agent_state)

    def settings(self, mode: str = "socket") -> Settings:
        return Settings(
            state_dir=str(self.root),
            agent=AgentSettings(
                mode=mode,  # type: ignore[arg-type]
                socket=str(self.agent_socket),
                state_dir=str(self.agent_state),
                instance=self.instance,
                egress_pool=EGRESS_POOL,
                docker_socket=str(self.dockerd.socket) if self.dockerd else DOCKER_SOCKET,
            ),
        )

    # -- Postgres ------------------------------------------------------------------------------

    def start_postgres(self) -> None:
        self.cluster.ensure_initialised()
        deadline = time.monotonic() + READY_S
        while True:  # after a kill -9 the old shared memory may linger for a moment
            try:
                self.cluster.start()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill_postgres(self) -> None:
        proc = self.cluster._proc
        if proc is not None and proc.poll() is None:
            _kill_group(proc)

    # -- agent ---------------------------------------------------------------------------------

    def start_agent(self) -> None:
        config = agent_config(self.settings())
        config.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.root / "agent.log").open("ab") as log:
            self.agent_proc = subprocess.Popen(
                agent_argv(config, self.agent_socket),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(lambda: self._connects(self.agent_socket), self.agent_proc, "agent")

    def kill_agent(self) -> None:
        # Only the agent: its sing-box processes survive it (KillMode=process in production).
        if self.agent_proc is not None and self.agent_proc.poll() is None:
            self.agent_proc.kill()
            self.agent_proc.wait()

    # -- daemon --------------------------------------------------------------------------------

    def daemon_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CLOUDCLAUDE_DATABASE__URL": self.cluster.dsn(DATABASE),
            "CLOUDCLAUDE_STATE_DIR": str(self.root),
            "CLOUDCLAUDE_AGENT__MODE": "socket",
            "CLOUDCLAUDE_AGENT__SOCKET": str(self.agent_socket),
            "CLOUDCLAUDE_AGENT__STATE_DIR": str(self.agent_state),
            "CLOUDCLAUDE_AGENT__INSTANCE": self.instance,
            "CLOUDCLAUDE_AGENT__EGRESS_POOL": EGRESS_POOL,
            "CLOUDCLAUDE_AGENT__DOCKER_SOCKET": self.settings().agent.docker_socket,
            "CLOUDCLAUDE_EGRESS__DEFAULT_EXIT": exit_label(self.sim),
            "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
            "CLOUDCLAUDE_WEB__PORT": str(self.port),
            "CLOUDCLAUDE_WEB__TLS": "off",
            "CLOUDCLAUDE_CTL__SOCKET": str(self.root / "ctl.sock"),
            "CLOUDCLAUDE_SSH__HOST": "127.0.0.1",
            "CLOUDCLAUDE_SSH__PORT": "0",
            "CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_ADDRESS": "100000",
            "CLOUDCLAUDE_RATE_LIMITS__LOGIN_PER_USER": "100000",
            "CLOUDCLAUDE_AUTH__ARGON2_TIME_COST": "1",
            "CLOUDCLAUDE_AUTH__ARGON2_MEMORY_KIB": "8192",
            "CLOUDCLAUDE_TASKS__LEASE_S": str(LEASE_S),
            "CLOUDCLAUDE_SCANNERS__RECONCILE_PERIOD_S": str(RECONCILE_PERIOD_S),
            "CLOUDCLAUDE_LOG__FORMAT": "json",
            "CLOUDCLAUDE_LOG__LEVEL": "info",
        }
        env.pop("CLOUDCLAUDE_CONFIG", None)
        return env

    def migrate(self) -> None:
        subprocess.run(
            [str(VENV_BIN / "cloudclaude"), "migrate"],
            env=self.daemon_env(),
            check=True,
            capture_output=True,
        )

    def start_daemon(self) -> None:
        with (self.root / "daemon.log").open("ab") as log:
            self.daemon_proc = subprocess.Popen(
                [sys.executable, "-m", "bench.chaos_daemon"],
                cwd=REPO,
                env=self.daemon_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(self._healthy, self.daemon_proc, "daemon")

    def kill_daemon(self) -> None:
        if self.daemon_proc is not None and self.daemon_proc.poll() is None:
            self.daemon_proc.kill()
            self.daemon_proc.wait()

    # -- all -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self.dockerd is not None:
            self.dockerd.start()
            self.dockerd.copy_images()
        self.start_postgres()
        self.cluster.ensure_database(DATABASE)
        self.migrate()
        self.start_agent()
        self.start_daemon()

    def kill(self, target: str) -> None:
        if target == "dockerd":
            assert self.dockerd is not None, "only a private dockerd may be killed"
            self.dockerd.kill()
            return
        {"daemon": self.kill_daemon, "agent": self.kill_agent, "postgres": self.kill_postgres}[
            target
        ]()

    def revive(self) -> list[str]:
        """Start again whatever is down (Postgres, then the agent, then the daemon)."""
        revived = []
        proc = self.cluster._proc
        if proc is None or proc.poll() is not None:
            self.start_postgres()
            revived.append("postgres")
        if self.dockerd is not None and not self.dockerd.alive():
            self.dockerd.start()
            revived.append("dockerd")
        if self.agent_proc is None or self.agent_proc.poll() is not None:
            self.start_agent()
            revived.append("agent")
        if self.daemon_proc is None or self.daemon_proc.poll() is not None:
            self.start_daemon()
            revived.append("daemon")
        for name in revived:
            self.restarts[name] = self.restarts.get(name, 0) + 1
        return revived

    def close(self) -> list[str]:
        """Stop the daemon, clear everything the agent made, stop the agent and Postgres."""
        problems: list[str] = []
        _stop(self.daemon_proc)
        _stop(self.agent_proc)
        if self.dockerd is not None and not self.dockerd.alive():
            try:  # the boxes are removed through it: a dead one would leave them running
                self.dockerd.start()
            except RuntimeError as exc:
                problems.append(f"the private dockerd's boxes ({exc})")

        async def clear() -> list[str]:
            async with open_agent(self.settings("embedded")) as agent:
                return await clear_agent(agent)

        try:
            if self.agent_state.exists():
                problems += trio.run(clear)
        except Exception as exc:  # noqa: BLE001 (said, and the rest is still stopped)
            problems.append(f"what the agent made ({exc})")
        finally:
            volumes = self.agent_state / "volumes"
            for mount in sorted(volumes.glob("*") if volumes.is_dir() else [], reverse=True):
                subprocess.run(["umount", "-R", str(mount)], capture_output=True, check=False)
            subprocess.run(["umount", str(volumes)], capture_output=True, check=False)
            self.cluster.stop()
            if self.dockerd is not None:
                self.dockerd.close()
        return problems

    # -- helpers -------------------------------------------------------------------------------

    def _healthy(self) -> bool:
        import httpx

        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def _connects(path: Path) -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(path))
                return True
            except OSError:
                return False

    def _wait(self, ready: object, proc: subprocess.Popen[bytes], name: str) -> None:
        check = ready if callable(ready) else None
        assert check is not None
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")
            if check():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready within {READY_S:.0f} s")
