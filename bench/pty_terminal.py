"""A process on a pty of its own, as in a user's terminal, for benches and tests of interactive
clients (``cloud-claude``, plain ``ssh -tt``): its output read all along (a full pty would
stall it) and kept, keys typed into it, and a clean end also when the caller fails."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import trio

#: Rows and columns of the pty.
SIZE = (40, 120)
#: Only a bound for a broken run.
WAIT_S = 120.0


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *SIZE, 0, 0))
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        os.set_blocking(self.master, False)
        self.output = bytearray()
        #: When the last chunk was read (``time.perf_counter``).
        self.read_at = 0.0
        #: The pty gave EOF (EIO): everything the process and its children wrote has been read.
        self.drained = False
        self._grew = trio.Event()

    async def pump(self) -> None:
        while True:
            await trio.lowlevel.wait_readable(self.master)
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                continue
            except OSError:  # EIO: the process and its children closed the pty
                chunk = b""
            if not chunk:
                self.drained = True
                self._grew.set()
                return
            self.read_at = time.perf_counter()
            self.output += chunk
            self._grew.set()
            self._grew = trio.Event()

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def shown(self) -> str:
        return self.output.decode(errors="replace")[-4000:]

    async def expect(self, wanted: bytes, start: int = 0) -> float:
        """When the output from ``start`` on came to hold ``wanted``; fails when the process
        closed its terminal without it, or after ``WAIT_S``."""
        with trio.move_on_after(WAIT_S):
            while self.output.find(wanted, start) < 0:
                assert not self.drained, f"ended without {wanted!r}:\n{self.shown()}"
                with trio.move_on_after(0.5):
                    await self._grew.wait()
            return self.read_at
        raise AssertionError(f"no {wanted!r}; the terminal showed:\n{self.shown()}")

    async def wait(self) -> int:
        """The process's exit status (polled: a Popen, not a trio process)."""
        with trio.fail_after(WAIT_S):
            while True:
                status = self.process.poll()
                if status is not None:
                    return status
                await trio.sleep(0.05)

    def close(self) -> None:
        """SIGTERM to its process group (a CLI restores the terminal and stops its ssh), then
        SIGKILL; the pty is freed."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


@contextlib.asynccontextmanager
async def running(argv: list[str], env: dict[str, str], cwd: Path) -> AsyncIterator[Terminal]:
    """``argv`` on a terminal, its output pumped, ended on the way out."""
    terminal = Terminal(argv, env, cwd)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(terminal.pump)
            try:
                yield terminal
            finally:
                nursery.cancel_scope.cancel()
    finally:
        terminal.close()
