"""The checkout's mount channel, laptop side: ``ssh -s cloudclaude-mount`` with the checkout's
path in its environment, and this process serving the checkout over SFTP on ssh's pipes.

This is reverse sshfs: the box never connects to the laptop. The proxy has the agent mount the
stream at the same path in the box and then writes ``mounted PATH`` on the channel's stderr;
``open`` returns only then, so Claude Code never starts in an empty directory. Anything else
on stderr is the proxy's progress (a box starting) or its coded error.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from cloudclaude.client import laptop_git
from cloudclaude.client.api import ApiError
from cloudclaude.client.sftp_server import serve

SUBSYSTEM = "cloudclaude-mount"
PATH_ENV = "CLOUDCLAUDE_MOUNT_PATH"
#: The proxy's line once the mount is in place (``cloudclaude.sshproxy.mount.READY``).
READY = "mounted"
#: A box may have to start first: the proxy starts it and says so meanwhile.
READY_TIMEOUT_S = 180.0
#: stderr lines kept for an error message.
KEEP_LINES = 20


def checkable_path(root: Path) -> str:
    """``root`` as ssh's ``SetEnv`` can carry it (one double-quoted word)."""
    text = str(root)
    if any(c in text for c in '"\\') or not text.isprintable():
        raise ApiError(
            f"{text!r} cannot be mounted: its path has quotes, backslashes or control characters",
            fix="use the checkout from a path without them",
        )
    return text


class MountChannel:
    """One mount: the ssh process, the SFTP server thread and the stderr reader."""

    def __init__(
        self, ssh_argv: list[str], root: Path, desk: laptop_git.Desk, say: Callable[[str], None]
    ) -> None:
        self.argv = ssh_argv
        self.root = root
        self.desk = desk
        self.say = say
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.lines: list[str] = []

    @staticmethod
    def ssh_options(root: Path) -> list[str]:
        """What goes before the destination: no terminal, the path, a subsystem."""
        return ["-T", "-o", f'SetEnv={PATH_ENV}="{checkable_path(root)}"', "-s"]

    def open(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start ssh and serve; return once the box has the mount, or raise its error. Again
        after ``close``: a new mount (the old one died with its stream)."""
        self.ready, self.lines = threading.Event(), []
        self.process = subprocess.Popen(
            [*self.argv, SUBSYSTEM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdin, stdout, stderr = self.process.stdin, self.process.stdout, self.process.stderr
        assert stdin is not None  # all three are pipes
        assert stdout is not None
        assert stderr is not None
        self._thread(self._serve, self.process, stdout, stdin)
        self._thread(self._read_stderr, stderr, self.ready)
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                status = self.process.returncode or 1
                said = "; ".join(line for line in self.lines[-3:] if line) or "ssh ended"
                raise ApiError(f"the checkout could not be mounted: {said}", status=status)

    def _thread(self, target: Callable[..., None], *args: object) -> None:
        threading.Thread(target=target, args=args, daemon=True, name="mount").start()

    def _serve(self, process: subprocess.Popen[bytes], rfile: BinaryIO, wfile: BinaryIO) -> None:
        serve(str(self.root), rfile, wfile, report=self.say, desk=self.desk)
        # The stream ended (or the box's sshfs misbehaved): this mount is dead either way (and
        # ``self.process`` may be a newer one's by now).
        _end(process)

    def _read_stderr(self, stream: IO[bytes], ready: threading.Event) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line == f"{READY} {self.root}":
                ready.set()
                continue
            self.lines = [*self.lines[-KEEP_LINES:], line]
            if ready.is_set() or line.startswith("cloudclaude:"):
                self.say(line)

    def alive(self) -> bool:
        return self.ready.is_set() and self.process is not None and self.process.poll() is None

    def close(self) -> None:
        """End ssh (the proxy then takes the mount down in the box)."""
        if self.process is not None:
            _end(self.process)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
