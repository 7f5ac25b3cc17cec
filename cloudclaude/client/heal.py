"""A session that heals (issue 17): ``ssh`` to the box's tmux runs on a pty this process owns,
and when the connection is lost the CLI reconnects with backoff and attaches to the same pane.

Lost means ssh exited 255: a reset, a refused connect, or keepalives left unanswered for about
15 s. Any other status is the remote session's own end (the user detached, the shell exited)
and is returned as it is. ssh runs on our pty so that the keys typed while the connection is
down go to a bounded buffer instead of a dying ssh; they are sent once the pane is back.
The schedule, the buffer and the status line's text are in ``outage`` (no I/O there).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType

from cloudclaude.client import exit_codes
from cloudclaude.client.outage import Outage, TypedAhead, give_up_text, reconnect_limit
from cloudclaude.client.pty_relay import (
    CHUNK,
    DEFAULT_SIZE,
    PtyProcess,
    StatusDisplay,
    drain,
    raw_terminal,
    terminal_fd,
    winch_pipe,
    window_size,
    write_all,
)

#: ssh's status when the connection failed or was lost (any other is the remote's own).
LOST = 255
#: Keepalives find a silent connection dead after about 15 s; the first value of an option
#: counts in ssh, so these go first.
KEEPALIVE = [
    "-o", "ServerAliveInterval=5",
    "-o", "ServerAliveCountMax=3",
    "-o", "ConnectTimeout=10",
]  # fmt: skip
#: The probe that the server is reachable (a TCP connect to ssh's host and port) gives up then.
PROBE_TIMEOUT_S = 5.0
#: ssh's stderr kept from the session and the failed attempts, shown at the end.
ERRORS_KEPT = 4096
#: Raw keys: Ctrl-C is a byte, no signal. It quits while the status line is up.
CTRL_C = b"\x03"
#: What ssh says when trying again cannot help.
FATAL = (b"Permission denied", b"Host key verification failed", b"IDENTIFICATION HAS CHANGED")
QUIT = 130


def with_keepalives(argv: list[str]) -> list[str]:
    """``argv`` (an ssh command line) with the keepalive options ahead of the caller's."""
    if not argv or os.path.basename(argv[0]) != "ssh":
        return list(argv)
    return [argv[0], *KEEPALIVE, *argv[1:]]


def server_address(argv: list[str]) -> tuple[str, int] | None:
    """Where ``argv``'s ssh connects (``ssh -G``, the user's ssh_config included); None if it
    goes through a ProxyCommand or ProxyJump, or ``ssh -G`` fails: nothing to probe then."""
    try:
        done = subprocess.run(
            [argv[0], "-G", *argv[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    config: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key.lower(), value)
    if done.returncode != 0 or any(
        config.get(k, "none") != "none" for k in ("proxycommand", "proxyjump")
    ):
        return None
    port = config.get("port", "")
    return (config["hostname"], int(port)) if config.get("hostname") and port.isdigit() else None


def unreachable(address: tuple[str, int]) -> str:
    """Why ``address`` takes no TCP connection; "" when it does (the server is back)."""
    try:
        with socket.create_connection(address, timeout=PROBE_TIMEOUT_S):
            return ""
    except OSError as exc:
        return f"{address[0]} port {address[1]}: {exc.strerror or exc}"


class _Ended(Exception):
    """SIGTERM or SIGHUP: leave through the clean-up (terminal mode, ssh) with this status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@contextlib.contextmanager
def _ending_signals() -> Iterator[None]:
    def end(signum: int, _frame: FrameType | None) -> None:
        raise _Ended(128 + signum)

    previous = {s: signal.signal(s, end) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Session:
    """The relay between the user's terminal and ssh's pty, and the outages in between."""

    def __init__(
        self,
        argv: Callable[[bool], list[str]],
        before_reattach: Callable[[], None] | None,
        watch: Callable[[bytes], None] | None,
        limit_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.argv, self.before_reattach, self.watch = argv, before_reattach, watch
        self.limit_s, self.clock = limit_s, clock
        self.stdin, self.stdout = sys.stdin.fileno(), sys.stdout.fileno()
        self.stdin_tty, self.stdin_open = os.isatty(self.stdin), True
        self.term = terminal_fd()
        self.display = StatusDisplay()
        self.typed = TypedAhead()
        self.proc: PtyProcess | None = None
        #: The current ssh drew on the terminal (tmux attached); ever: the first one did.
        self.attached = self.ever_attached = False
        self.outage: Outage | None = None
        self.address: tuple[str, int] | None = None
        self.looked_up = False
        #: ssh's stderr once attached (its last words on a drop are no news), shown at the end.
        self.held = bytearray()
        self.gave_up = self.quit = False

    def run(self, winch: int) -> int:
        self._spawn(reconnecting=False)
        while True:
            status = self._turn(winch)
            if status is not None:
                return status

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()
            self.proc = None
        self.display.clear()

    def report(self) -> None:
        """What is left to say once the terminal is back to normal."""
        if self.gave_up and self.outage is not None:
            sys.stderr.write(give_up_text(self.outage, self.clock(), len(self.typed)) + "\n")
        elif self.quit:
            unsent = f"; {len(self.typed)} typed bytes were not sent" if len(self.typed) else ""
            sys.stderr.write(f"cloud-claude: left while disconnected{unsent}\n")
        elif self.held:
            write_all(sys.stderr.fileno(), bytes(self.held))

    def _turn(self, winch: int) -> int | None:
        outage = self.outage
        if outage is not None and self.proc is None and outage.due(self.clock()):
            return self._attempt(outage)
        readers = [winch, *([self.stdin] if self.stdin_open else [])]
        readers += self.proc.readers() if self.proc is not None else []
        timeout = None if outage is None else outage.wake_in(self.clock())
        ready, _, _ = select.select(readers, [], [], timeout)
        if winch in ready:
            drain(winch)
            self._resize()
        if self.proc is not None and self.proc.master in ready:
            self._output(self.proc.read_output())
        if self.proc is not None and self.proc.stderr in ready:
            self._errors(self.proc.read_stderr())
        if self.stdin_open and self.stdin in ready:
            status = self._typed(os.read(self.stdin, CHUNK))
            if status is not None:
                return status
        if self.proc is not None and self.proc.finished():
            return self._ended(self.proc)
        self._show()
        return None

    def _spawn(self, *, reconnecting: bool) -> None:
        self.proc = PtyProcess(with_keepalives(self.argv(reconnecting)), self._size())
        self.attached = False

    def _size(self) -> bytes:
        return window_size(self.term) if self.term is not None else DEFAULT_SIZE

    def _resize(self) -> None:
        if self.proc is not None:
            self.proc.resize(self._size())
        self.display.redraw()

    def _output(self, data: bytes) -> None:
        if not data:
            return
        if not self.attached:
            self.attached = self.ever_attached = True
            if self.outage is not None:
                self._healed()
        if self.watch is not None:
            self.watch(data)
        write_all(self.stdout, data)

    def _healed(self) -> None:
        """The pane is back: the status line goes (tmux redraws it all), the keys are sent."""
        self.outage = None
        self.display.clear("cloud-claude: reconnected")
        self.held.clear()
        typed = self.typed.take()
        if typed and self.proc is not None:
            self.proc.write(typed)

    def _errors(self, data: bytes) -> None:
        if not self.ever_attached:
            write_all(sys.stderr.fileno(), data)  # the first connect: progress, as ssh shows it
        else:
            self.held += data
            del self.held[:-ERRORS_KEPT]

    def _typed(self, data: bytes) -> int | None:
        if not data:
            self.stdin_open = False
            return None
        if self.proc is not None and (self.attached or not self.ever_attached):
            self.proc.write(data)
            return None
        if self.stdin_tty and CTRL_C in data and self.display.shown:
            self.quit = True
            return QUIT
        self.typed.add(data)
        if self.outage is not None and (b"\r" in data or b"\n" in data):
            self.outage.retry_now(self.clock())
        return None

    def _ended(self, proc: PtyProcess) -> int | None:
        status = proc.wait()
        proc.close()
        self.proc = None
        was_attached, self.attached = self.attached, False
        if status != LOST or not self.ever_attached:
            return status  # the remote's own end, or the first connect failed (ssh said why)
        if self.outage is None or was_attached:
            self.outage = Outage(self.clock(), self.limit_s)
            return None
        if any(words in self.held for words in FATAL):
            return status
        last = bytes(self.held).decode(errors="replace").strip().splitlines()
        return self._failed(self.outage, last[-1] if last else f"ssh exited {status}")

    def _attempt(self, outage: Outage) -> int | None:
        outage.start()
        self._show()
        if not self.looked_up:
            self.address = server_address(with_keepalives(self.argv(True)))
            self.looked_up = True
        if self.address is not None:
            error = unreachable(self.address)
            if error:
                return self._failed(outage, error)
        if self.before_reattach is not None:
            try:
                self.before_reattach()
            except Exception as exc:  # noqa: BLE001 - the caller's work: a failed try, retried
                return self._failed(outage, f"before re-attach: {exc}")
        self.held.clear()
        self._spawn(reconnecting=True)
        return None

    def _failed(self, outage: Outage, error: str) -> int | None:
        if outage.failed(self.clock(), error):
            return None
        self.gave_up = True
        return exit_codes.CONNECTION_LOST

    def _show(self) -> None:
        if self.outage is not None:
            shown = self.outage.status(self.clock(), self.typed)
            if shown is not None:
                self.display.show(*shown)


def run_session(
    argv: Callable[[bool], list[str]],
    *,
    before_reattach: Callable[[], None] | None = None,
    watch: Callable[[bytes], None] | None = None,
) -> int:
    """Run the ssh of ``argv(False)`` on this terminal until the remote session ends, and
    after each lost connection ``argv(True)`` (a re-attach) once the server is reachable and
    ``before_reattach`` (if given) has run; an exception from it is a failed try.

    ``watch`` sees everything ssh writes to the terminal (to learn the tmux session's name).
    Returns ssh's status, 130 on Ctrl-C while disconnected, or ``exit_codes.CONNECTION_LOST``
    after the limit (NET_018 is printed). ssh gets keepalive options ahead of ``argv``'s.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    relay = _Session(argv, before_reattach, watch, reconnect_limit())
    try:
        with raw_terminal(relay.stdin), winch_pipe() as winch, _ending_signals():
            try:
                return relay.run(winch)
            finally:
                relay.close()
    except _Ended as ended:
        return ended.status
    finally:
        relay.report()
