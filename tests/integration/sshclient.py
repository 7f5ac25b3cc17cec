"""The real OpenSSH client against the proxy: argv builders, an askpass for passwords, a pty.

Every command runs with ``-F /dev/null`` (no user config), the proxy's key pinned in a private
known_hosts file and StrictHostKeyChecking on, so the tests see what a careful user sees.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import subprocess
import termios
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncssh
import trio
import trio.lowlevel

from cloudclaude.sshproxy.hostkey import known_hosts_line

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")


class SshClient:
    """Files and argv for ``ssh``/``scp``/``sftp`` to one proxy."""

    def __init__(self, workdir: Path, port: int, host_key: asyncssh.SSHKey) -> None:
        self.workdir = workdir
        self.port = port
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.write_text(known_hosts_line(host_key, "127.0.0.1", port) + "\n")
        self.askpass = workdir / "askpass"
        self.askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$TEST_SSH_PASSWORD"\n')
        self.askpass.chmod(0o700)
        self._keys = 0

    def new_key(self) -> tuple[Path, str]:
        """A fresh key pair file (keys are unique per user) and its public line."""
        self._keys += 1
        path = self.workdir / f"id_ed25519_{self._keys}"
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"test-key-{self._keys}")
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)
        return path, key.export_public_key().decode().strip()

    def options(self, key: Path | None) -> list[str]:
        opts = [
            "-F", "/dev/null",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentityAgent=none",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=20",
            "-o", "ServerAliveInterval=10",
        ]  # fmt: skip
        if key is not None:
            opts += ["-i", str(key), "-o", "PreferredAuthentications=publickey"]
        else:
            opts += [
                "-o", "PreferredAuthentications=password",
                "-o", "PubkeyAuthentication=no",
                "-o", "NumberOfPasswordPrompts=1",
            ]  # fmt: skip
        return opts

    def ssh(
        self, login: str, *command: str, key: Path | None = None, extra: Sequence[str] = ()
    ) -> list[str]:
        """``ssh`` with the key file, or with password auth when ``key`` is None."""
        target = f"{login}@127.0.0.1"
        return ["ssh", *self.options(key), "-p", str(self.port), *extra, target, *command]

    def env(self, password: str | None = None) -> dict[str, str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.workdir), "LANG": "C.UTF-8"}
        if password is not None:
            env.update(
                SSH_ASKPASS=str(self.askpass),
                SSH_ASKPASS_REQUIRE="force",
                DISPLAY=":0",
                TEST_SSH_PASSWORD=password,
            )
        return env

    async def run(
        self, argv: list[str], password: str | None = None, stdin: bytes = b"", timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        with trio.fail_after(timeout):
            return await trio.run_process(
                argv,
                stdin=stdin,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=self.env(password),
            )


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@contextlib.contextmanager
def _screen_on_timeout(session: PtySession, pattern: str) -> Iterator[None]:
    try:
        yield
    except trio.TooSlowError as exc:
        raise AssertionError(f"no {pattern!r} in time; screen:\n{session.text()}") from exc


class PtySession:
    """``ssh -tt`` under a real pty: type into it, read its screen output, resize it."""

    def __init__(self, process: trio.Process, master: int) -> None:
        self.process = process
        self.master = master
        self.stream = trio.lowlevel.FdStream(master)
        self.output = bytearray()

    @classmethod
    async def start(
        cls,
        nursery: trio.Nursery,
        argv: list[str],
        env: dict[str, str],
        cols: int = 100,
        rows: int = 30,
    ) -> PtySession:
        master, slave = os.openpty()
        _set_size(slave, cols, rows)
        env = {**env, "TERM": "xterm-256color"}
        process: trio.Process = await nursery.start(
            lambda task_status: trio.run_process(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                check=False,
                preexec_fn=_controlling_tty,
                task_status=task_status,
            )
        )
        os.close(slave)
        return cls(process, master)

    def text(self) -> str:
        return ANSI.sub(b"", bytes(self.output)).decode(errors="replace")

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _read(self) -> bool:
        """Add what the pty has to the output; False once it is closed (EOF or EIO)."""
        try:
            chunk = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:  # EIO: the pty has no writer left
            return False
        self.output += chunk
        return bool(chunk)

    async def expect(self, pattern: str, timeout: float = 60) -> str:
        regex = re.compile(pattern)
        with _screen_on_timeout(self, pattern), trio.fail_after(timeout):
            while not regex.search(self.text()):
                if not await self._read():
                    raise AssertionError(f"pty closed before {pattern!r}; screen:\n{self.text()}")
        return self.text()

    async def drain(self) -> None:
        """Read what is left once the child has exited (until EOF)."""
        with trio.move_on_after(5):
            while await self._read():
                pass

    def clear(self) -> None:
        self.output.clear()

    def resize(self, cols: int, rows: int) -> None:
        _set_size(self.master, cols, rows)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.stream.aclose()
