"""The terminal side of a healing session: ``ssh`` runs in a pty this process owns, so that the
user's keys can be held back while the connection is down instead of going to a dead ssh.

The user's terminal is put in raw mode for the whole session (not per connection), its size is
copied to the pty on SIGWINCH, and a status line is drawn on the terminal's last row with the
cursor saved and restored, so the screen underneath is not disturbed (tmux redraws it all on
the next attach anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import tty
from collections.abc import Iterator
from types import FrameType

#: How much one read takes from a file descriptor.
CHUNK = 65536
#: The size given to ssh's pty when the user's is unknown (no terminal).
DEFAULT_SIZE = struct.pack("HHHH", 24, 80, 0, 0)


def window_size(fd: int) -> bytes:
    """The terminal size of ``fd`` as the packed ``winsize`` (rows, cols, x, y); 24x80 if none."""
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return DEFAULT_SIZE


def rows_cols(fd: int) -> tuple[int, int]:
    """(rows, columns) of ``fd``'s terminal."""
    rows, cols, _, _ = struct.unpack("HHHH", window_size(fd))
    return rows or 24, cols or 80


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """``fd`` (the user's terminal) in raw mode until the block ends; nothing if not a tty."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def winch_pipe() -> Iterator[int]:
    """A file descriptor that becomes readable when the terminal is resized (self-pipe)."""
    read_fd, write_fd = os.pipe()
    for fd in (read_fd, write_fd):
        os.set_blocking(fd, False)

    def poke(_signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            os.write(write_fd, b"w")

    previous = signal.signal(signal.SIGWINCH, poke)
    try:
        yield read_fd
    finally:
        signal.signal(signal.SIGWINCH, previous)
        os.close(read_fd)
        os.close(write_fd)


def drain(fd: int) -> None:
    """Empty a non-blocking pipe (the SIGWINCH self-pipe)."""
    with contextlib.suppress(OSError):
        while os.read(fd, CHUNK):
            pass


class PtyProcess:
    """``argv`` (ssh -tt …) on a fresh pty sized like the user's terminal; stderr on a pipe,
    so that ssh's own complaints can be shown or held back by the caller."""

    def __init__(self, argv: list[str], size: bytes) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        tty.setraw(slave)  # ssh does it too, but keys written before it starts stay raw
        err_read, err_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=err_write, start_new_session=True
            )
        except OSError:
            for fd in (self.master, err_read):
                os.close(fd)
            raise
        finally:
            os.close(slave)
            os.close(err_write)
        self.stderr = err_read
        self.output_open = True
        self.stderr_open = True

    def resize(self, size: bytes) -> None:
        """New size for ssh's terminal, and tell ssh: the pty is not its controlling terminal
        (a new session, no ``TIOCSCTTY`` without ``preexec_fn``), so no SIGWINCH comes by itself."""
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.send_signal(signal.SIGWINCH)

    def read_output(self) -> bytes:
        """What ssh wrote to the terminal; b"" once it closed the pty (EIO on Linux)."""
        try:
            data = os.read(self.master, CHUNK)
        except OSError:
            data = b""
        if not data:
            self.output_open = False
        return data

    def read_stderr(self) -> bytes:
        data = os.read(self.stderr, CHUNK)
        if not data:
            self.stderr_open = False
        return data

    def write(self, data: bytes) -> None:
        """Write all of ``data`` to ssh's terminal (a pty buffer takes a few KiB at a time)."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
            except BlockingIOError:
                continue
            except OSError:
                return  # ssh is gone; the loop notices on its next read
            view = view[written:]

    def readers(self) -> list[int]:
        return [
            fd
            for fd, up in ((self.master, self.output_open), (self.stderr, self.stderr_open))
            if up
        ]

    def finished(self) -> bool:
        return not self.output_open and not self.stderr_open

    def wait(self) -> int:
        """ssh's exit status (255: the connection failed or was lost)."""
        status = self.process.wait()
        return 128 - status if status < 0 else status  # a signal as a shell would report it

    def close(self) -> None:
        """Stop ssh if it still runs, and free the descriptors."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self.master, self.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (the user's terminal may take it in pieces)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def terminal_fd() -> int | None:
    """The user's terminal (stdin, else stdout), whose size ssh's pty copies; None if neither."""
    for fd in (sys.stdin.fileno(), sys.stdout.fileno()):
        if os.isatty(fd):
            return fd
    return None


def status_line(text: str, rows: int, cols: int) -> bytes:
    """``text`` drawn on the last row in reverse video, the cursor put back where it was."""
    shown = text[: max(cols - 1, 0)]
    return (
        b"\x1b7"  # save cursor
        + f"\x1b[{rows};1H\x1b[2K\x1b[7m{shown}\x1b[0m".encode()
        + b"\x1b8"  # restore cursor
    )


def clear_status_line(rows: int) -> bytes:
    return b"\x1b7" + f"\x1b[{rows};1H\x1b[2K".encode() + b"\x1b8"


class StatusDisplay:
    """The healing session's one line of state: on the terminal's last row when stdout is a
    terminal, else (a pipe, a log) as plain lines on stderr, once per change of state."""

    def __init__(self) -> None:
        self.stdout = sys.stdout.fileno()
        self.stderr = sys.stderr.fileno()
        self.on_terminal = os.isatty(self.stdout)
        self.text = ""
        self._said = ""

    @property
    def shown(self) -> bool:
        return bool(self.text)

    def show(self, text: str, state: str) -> None:
        """Draw ``text``; ``state`` (the text without its counters) decides a plain line."""
        if self.on_terminal:
            if text != self.text:
                write_all(self.stdout, status_line(text, *rows_cols(self.stdout)))
        elif state != self._said:
            write_all(self.stderr, f"{state}\n".encode())
            self._said = state
        self.text = text

    def redraw(self) -> None:
        """After a resize: the last row moved."""
        if self.on_terminal and self.text:
            write_all(self.stdout, status_line(self.text, *rows_cols(self.stdout)))

    def clear(self, note: str = "") -> None:
        """Take the line away; ``note`` closes a log's lines (the terminal's tmux redraws)."""
        if self.on_terminal and self.text:
            write_all(self.stdout, clear_status_line(rows_cols(self.stdout)[0]))
        elif note and self._said:
            write_all(self.stderr, f"{note}\n".encode())
        self.text = self._said = ""


#: A title as tmux sets it (``set-titles on``): OSC 0 or 2, ended by BEL or ST.
_TITLE = re.compile(rb"\x1b\][02];([^\x07\x1b]{0,512})(?:\x07|\x1b\\)")
_SESSION_NAME = re.compile(r"[A-Za-z0-9_+@-]{1,64}")


class TitleWatch:
    """The tmux session the user looks at, from the terminal titles in ssh's output.

    The box's tmux sets the title to ``#S:#I:#W - "#T"`` (``set-titles on``; ``:`` cannot be in
    a session name), so a re-attach after a drop can name the session the first attach made
    (``attach-claude --new-session`` picks ``claude-N`` by itself) or the one switched to.
    """

    def __init__(self) -> None:
        self.session = ""
        self._tail = b""

    def feed(self, data: bytes) -> None:
        text = self._tail + data
        end = 0
        for found in _TITLE.finditer(text):
            name = found.group(1).decode("utf-8", "replace").partition(":")[0]
            if _SESSION_NAME.fullmatch(name):
                self.session = name
            end = found.end()
        start = text.rfind(b"\x1b]", end)
        # An unfinished title is kept for the next chunk (bounded: a title is short).
        self._tail = text[start:][:600] if start >= 0 else b""
