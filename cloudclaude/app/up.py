"""``cloudclaude up``: the whole system as production runs it, for ``make up`` (run as root).

Three processes, laid out as under systemd: the daemon as the system user ``cloudclaude`` with
no capabilities (from its own runtime, ``runtime_venv``), the privileged agent as root in
socket mode (admitting root and group ``cloudclaude`` only), and a private Postgres owned by
``cloudclaude``. This process makes the user, the runtime and the directories, then only
supervises: the agent is restarted when it dies; Ctrl-C or SIGTERM stops the daemon (it
drains), then the agent, then Postgres. The daemon does its own first-run set-up
(``cloudclaude run --setup``: migrations, the ``host`` exit, the first admin) and prints where
to go next. Running it again reuses everything: nothing is lost or re-created.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import attrs

from agent.config import config_flags
from cloudclaude.agent_client.handle import agent_config
from cloudclaude.app import daemon_user, runtime_venv
from cloudclaude.app.children import Child
from cloudclaude.app.first_run import HOST_EXIT
from cloudclaude.core.settings import Settings
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.errors import system

#: Where the agent's socket lives: root-owned all the way up, so the daemon cannot swap it;
#: root:cloudclaude 0750 like ``systemd/cloudclaude.tmpfiles`` makes it.
AGENT_SOCKET_DIR = Path("/run/cloudclaude-agent")
AGENT_READY_S = 60.0
RESTART_PAUSE_S = 1.0
#: A crashing agent is started again after 1, 2, 4 … seconds, at most this long.
MAX_RESTART_PAUSE_S = 30.0


class Stop(Exception):
    """SIGTERM (or SIGINT) asked ``up`` to stop everything."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def agent_state_dir(settings: Settings) -> Path:
    """The agent's own state, outside anything the daemon may write (``<state>-agent``)."""
    if settings.agent.state_dir:
        return Path(settings.agent.state_dir)
    return settings.state_path.with_name(settings.state_path.name + "-agent")


def run(settings: Settings, config_path: str | None) -> int:
    if os.geteuid() != 0:
        print(
            f"error {system.UP_NEEDS_ROOT.code} {system.UP_NEEDS_ROOT.slug}: `cloudclaude up`"
            " starts the agent as root and the daemon as user cloudclaude; run it as root"
            " (`sudo make up`)",
            file=sys.stderr,
        )
        return 2
    # Set, not inherited: a shell starting `make up` in the background ignores SIGINT for it.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    user = daemon_user.ensure()
    daemon_exe = runtime_venv.ensure(say=_say)
    _state, agent_state = _lay_out(settings, user)
    cluster = private_cluster(settings, user)
    agent = daemon = None
    try:
        if cluster.ensure_initialised():
            _say(f"initialised a private PostgreSQL cluster in {cluster.data_dir}")
        cluster.start()
        cluster.ensure_database()
        agent = _agent(settings, agent_state)
        agent.start()
        _wait_for_socket(agent)
        daemon = _daemon(settings, config_path, daemon_exe, cluster, user)
        daemon.start()
        return _supervise(agent, daemon)
    except (KeyboardInterrupt, Stop):
        print("stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if daemon is not None:
            daemon.stop(settings.supervisor.grace_s + 10)
        if agent is not None:
            agent.stop(30)
        cluster.stop()
        print("stopped the daemon, the agent and the private PostgreSQL cluster", file=sys.stderr)


def private_cluster(settings: Settings, user: daemon_user.DaemonUser) -> PrivateCluster:
    """The PostgreSQL cluster ``up`` keeps in the state directory (``database.url`` unset)."""
    state = settings.state_path
    return PrivateCluster(state / "postgres", state / "run" / "postgres", owner=user.name)


def in_process_agent(settings: Settings) -> Settings:
    """As root with a socket-mode agent configured: an agent in this process instead, keeping
    its state where ``up``'s agent keeps it (so tools run with no agent running)."""
    if os.geteuid() != 0 or settings.agent.mode != "socket":
        return settings
    agent = attrs.evolve(settings.agent, mode="embedded", state_dir=str(agent_state_dir(settings)))
    return attrs.evolve(settings, agent=agent)


def _say(text: str) -> None:
    print(text, flush=True)


def _lay_out(settings: Settings, user: daemon_user.DaemonUser) -> tuple[Path, Path]:
    """The daemon's state (its own), the agent's (root's), the control socket's directory."""
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    os.chown(state, user.uid, user.gid)
    state.chmod(0o700)
    for path in (state / "run", state / "server.key", state / "ssh_host_ed25519_key"):
        if path.exists():  # made by an earlier, all-root `up`
            os.chown(path, user.uid, user.gid)
    agent_state = agent_state_dir(settings)
    agent_state.mkdir(parents=True, exist_ok=True)
    _move_old_agent_state(state / "agent", agent_state)
    os.chown(agent_state, 0, 0)
    agent_state.chmod(0o700)
    ctl_dir = Path(settings.ctl.socket).parent
    ctl_dir.mkdir(parents=True, exist_ok=True)
    if ctl_dir != state:
        os.chown(ctl_dir, user.uid, user.gid)
        ctl_dir.chmod(0o711)
    AGENT_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    os.chown(AGENT_SOCKET_DIR, 0, user.gid)  # root and group cloudclaude only
    AGENT_SOCKET_DIR.chmod(0o750)
    return state, agent_state


def _move_old_agent_state(old: Path, new: Path) -> None:
    """An earlier ``up`` kept the agent's state (homes, gateways) inside the daemon's."""
    if not old.is_dir() or old.is_symlink():
        return
    for child in old.iterdir():
        if not (new / child.name).exists():
            child.rename(new / child.name)
            _say(f"moved the agent's {child.name} from {old} to {new}")
    with contextlib.suppress(OSError):
        old.rmdir()


def agent_socket(settings: Settings) -> Path:
    """One socket per installation, so a test's ``up`` and a real one never meet."""
    return AGENT_SOCKET_DIR / f"{agent_config(settings).instance}.sock"


def _agent(settings: Settings, agent_state: Path) -> Child:
    config = agent_config(settings)
    argv = [
        str(Path(sys.executable).with_name("cloudclaude-agent")),
        f"--socket={agent_socket(settings)}",
        "--socket-mode=0660",
        f"--allow-group={daemon_user.DAEMON_USER}",
        *config_flags(attrs.evolve(config, state_dir=agent_state)),
        f"--log-level={settings.log.level}",
    ]
    return Child("agent", argv, dict(os.environ))


def daemon_env(settings: Settings, dsn: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The daemon's environment: ``up``'s choices on top of the operator's ``CLOUDCLAUDE_*``.

    The exit ``host`` is the default exit unless the operator chose one; being in the
    environment, every choice survives a SIGHUP reload.
    """
    env = {k: v for k, v in environ.items() if k != "CLOUDCLAUDE_CONFIG"}
    env.update(
        HOME=str(settings.state_path),
        CLOUDCLAUDE_STATE_DIR=str(settings.state_path),
        CLOUDCLAUDE_DATABASE__URL=settings.database.url or dsn,
        CLOUDCLAUDE_AGENT__MODE="socket",
        CLOUDCLAUDE_AGENT__SOCKET=str(agent_socket(settings)),
    )
    if not settings.egress.default_exit:
        env["CLOUDCLAUDE_EGRESS__DEFAULT_EXIT"] = str(HOST_EXIT["label"])
    return env


def _daemon(
    settings: Settings,
    config_path: str | None,
    exe: Path,
    cluster: PrivateCluster,
    user: daemon_user.DaemonUser,
) -> Child:
    env = daemon_env(settings, cluster.dsn(), os.environ)
    argv = [str(exe), "run", "--setup", *(["--config", config_path] if config_path else [])]
    identity = (user.uid, user.gid, user.groups)
    return Child("daemon", argv, env, user=identity, cwd=str(settings.state_path))


def _wait_for_socket(agent: Child) -> None:
    path = next(a.split("=", 1)[1] for a in agent.argv if a.startswith("--socket="))
    deadline = time.monotonic() + AGENT_READY_S
    while time.monotonic() < deadline:
        if agent.exited() is not None:
            raise SystemExit(f"the agent exited with {agent.exited()} before it listened")
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.connect(path)
            return
        time.sleep(0.1)
    raise SystemExit(f"the agent did not listen on {path} within {AGENT_READY_S:.0f} s")


def _supervise(agent: Child, daemon: Child) -> int:
    """Until the daemon ends: its status. A dead agent is started again meanwhile."""
    while True:
        status = daemon.exited()
        if status is not None:
            return status
        if agent.exited() is not None:
            agent.restarts += 1
            print(
                f"the agent exited with {agent.exited()}; restarting it (restart {agent.restarts})",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(min(RESTART_PAUSE_S * 2 ** (agent.restarts - 1), MAX_RESTART_PAUSE_S))
            agent.start()
        time.sleep(0.2)
