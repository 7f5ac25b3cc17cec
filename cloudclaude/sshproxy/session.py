"""One relayed SSH session: the client's channel on one side, the box's channel on the other.

The relay uses asyncssh's callback API (no streams, no per-chunk tasks): data, EOF, window
changes, signals, breaks and the exit status are passed straight through, and flow control is
end to end (a full upstream window pauses reading from the client and the other way round).
Interactive shells run ``attach-claude``; ``CLOUDCLAUDE_SESSION=new|takeover`` picks its mode.
Before the box is reached, the host may need starting: progress lines go to the client's
stderr, and a failure ends the session with the error's code, its fix and its exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import asyncssh
from asyncssh.misc import TermModes, TermSize

from cloudclaude.errors import CloudClaudeError
from cloudclaude.sshproxy import mount
from cloudclaude.sshproxy.bridge import spawn
from cloudclaude.sshproxy.upstream import MAX_PACKET, WINDOW

if TYPE_CHECKING:
    from cloudclaude.sshproxy.server import ProxyConnection

STDERR = asyncssh.EXTENDED_DATA_STDERR
#: Where a session's data goes: the box's channel, or the checkout mount's socket.
Upstream = asyncssh.SSHClientChannel[bytes] | mount.MountChannel
ATTACH = "/usr/local/bin/attach-claude"
SESSION_MODES = {"": "", "attach": "", "new": " --new-session", "takeover": " --take-over"}
#: Bytes the client may send before the box is reached (then reading pauses).
PENDING_LIMIT = 1024 * 1024


def login_command(env: Mapping[str, str]) -> str | None:
    """The command an interactive shell runs, or None for an unknown session mode."""
    mode = env.get("CLOUDCLAUDE_SESSION", "").strip().lower().replace("-", "")
    flag = SESSION_MODES.get(mode)
    return None if flag is None else ATTACH + flag


def error_text(exc: CloudClaudeError, newline: str) -> str:
    error = exc.error
    lines = [
        f"cloudclaude: {exc.detail or error.message} ({error.code} {error.slug})",
        f"  fix: {error.fix}",
    ]
    return newline.join(lines) + newline


class UpstreamSession(asyncssh.SSHClientSession[bytes]):
    """The box's side of a relayed session: everything it sends goes to the client."""

    def __init__(self, relay: RelaySession) -> None:
        self._relay = relay
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._relay.bytes_out += len(data)
        self._relay.chan.write(data, datatype)

    def eof_received(self) -> bool:
        self._relay.chan.write_eof()
        return True

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = (signal, core_dumped, msg, lang)

    def pause_writing(self) -> None:
        self._relay.chan.pause_reading()

    def resume_writing(self) -> None:
        self._relay.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay.upstream_closed(self)


class RelaySession(asyncssh.SSHServerSession[bytes]):
    """The client's side of a relayed session."""

    chan: asyncssh.SSHServerChannel[bytes]

    def __init__(self, conn: ProxyConnection) -> None:
        self._conn = conn
        self._up: Upstream | None = None
        self._pending: list[tuple[bytes, asyncssh.DataType]] = []
        self._pending_bytes = 0
        self._pending_eof = False
        self._command: str | None = None
        self._subsystem: str | None = None
        self._pty = False
        self._closed = False
        self.kind = "shell"
        self.bytes_in = 0
        self.bytes_out = 0
        self.started = time.monotonic()
        self.exit_status: int | None = None

    # --- requests before the session starts ------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: TermSize, term_modes: TermModes) -> bool:
        self._pty = True
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        self.kind = "exec"
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem not in ("sftp", mount.SUBSYSTEM):
            return False
        self._subsystem = subsystem
        self.kind = "mount" if subsystem == mount.SUBSYSTEM else "sftp"
        return True

    def session_started(self) -> None:
        spawn(self._start(), "session start")

    # --- reaching the box -------------------------------------------------------------------

    @property
    def newline(self) -> str:
        return "\r\n" if self._pty else "\n"

    def say(self, line: str) -> None:
        """A progress line on the client's stderr."""
        if not self._closed:
            self.chan.write((line + self.newline).encode(), STDERR)

    def fail(self, exc: CloudClaudeError) -> None:
        if self._closed:
            return
        self.chan.write(error_text(exc, self.newline).encode(), STDERR)
        self.exit_status = exc.error.exit_code
        self.chan.exit(exc.error.exit_code)

    async def _start(self) -> None:
        try:
            command = self._command
            env = self.chan.get_environment()
            if command is None and self._subsystem is None and self._pty:
                command = login_command(env)
                if command is None:
                    raise CloudClaudeError(
                        "validation_failed",
                        "CLOUDCLAUDE_SESSION must be 'new' or 'takeover' (or unset)",
                    )
            if self.kind == "mount":
                up: Upstream = await mount.open_mount(
                    self._conn, self.say, UpstreamSession(self), env
                )
                self._conn.session_opened(self)
                self._attach(up)
                return
            upstream = await self._conn.upstream(self.say)
            self._conn.session_opened(self)
            term_type = self.chan.get_terminal_type() if self._pty else None
            options: dict[str, Any] = {}
            if term_type is not None:
                options.update(
                    term_type=term_type,
                    term_size=self.chan.get_terminal_size(),
                    term_modes=self.chan.get_terminal_modes(),
                )
            factory: Callable[[], UpstreamSession] = lambda: UpstreamSession(self)  # noqa: E731
            up, _ = await upstream.create_session(
                factory,
                command,
                subsystem=self._subsystem,
                env=cast(Mapping[str | bytes, str | bytes], env),
                encoding=None,
                window=WINDOW,
                max_pktsize=MAX_PACKET,
                **options,
            )
        except CloudClaudeError as exc:
            self.fail(exc)
            return
        except (OSError, asyncssh.Error) as exc:
            self.fail(CloudClaudeError("ssh_not_ready", f"the box's sshd: {exc}"))
            return
        self._attach(up)

    def _attach(self, up: Upstream) -> None:
        """Relay to ``up`` from now on, after what the client sent meanwhile."""
        if self._closed:
            up.close()
            return
        self._up = up
        for data, datatype in self._pending:
            up.write(data, datatype)
        if self._pending_eof:
            up.write_eof()
        self._pending = []
        if self._pending_bytes >= PENDING_LIMIT:
            self.chan.resume_reading()

    # --- relaying ---------------------------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.bytes_in += len(data)
        self._conn.mark_activity()
        if self._up is not None:
            self._up.write(data, datatype)
            return
        self._pending.append((data, datatype))
        self._pending_bytes += len(data)
        if self._pending_bytes >= PENDING_LIMIT:
            self.chan.pause_reading()

    def eof_received(self) -> bool:
        if self._up is not None:
            self._up.write_eof()
        else:
            self._pending_eof = True
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self._up is not None:
            self._up.change_terminal_size(width, height, pixwidth, pixheight)

    def signal_received(self, signal: str) -> None:
        if self._up is not None:
            self._up.send_signal(signal)

    def break_received(self, msec: int) -> bool:
        if self._up is not None:
            self._up.send_break(msec)
            return True
        return False

    def pause_writing(self) -> None:
        if self._up is not None:
            self._up.pause_reading()

    def resume_writing(self) -> None:
        if self._up is not None:
            self._up.resume_reading()

    def upstream_closed(self, up: UpstreamSession) -> None:
        """The box ended the session: pass on how it ended."""
        if self._closed:
            return
        if up.exit_signal is not None:
            signal, core_dumped, msg, lang = up.exit_signal
            self.chan.exit_with_signal(signal, core_dumped, msg, lang)
        elif up.exit_status is not None:
            self.exit_status = up.exit_status
            self.chan.exit(up.exit_status)
        else:
            self.chan.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._up is not None:
            self._up.close()
        self._conn.session_closed(self)
