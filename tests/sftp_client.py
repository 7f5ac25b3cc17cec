"""A small synchronous SFTP v3 client for the tests, and a server running on a thread.

It builds and reads packets with the server's own :mod:`sftp_wire` (the sshfs integration
test checks the encoding against a real client).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cloudclaude.client import laptop_git
from cloudclaude.client import sftp_wire as w
from cloudclaude.client.sftp_server import serve


class SftpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile: BinaryIO = sock.makefile("rb")
        self.next_id = 0
        self.raw(w.Writer(w.INIT).u32(3).packet())
        kind, body = w.read_packet(self.rfile)
        assert kind == w.VERSION_REPLY
        r = w.Reader(body)
        self.version = r.u32()
        self.extensions: dict[bytes, bytes] = {}
        while r.pos < len(r.data):
            name = r.string()
            self.extensions[name] = r.string()

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, kind: int, fill: Callable[[w.Writer], object]) -> tuple[int, w.Reader]:
        self.next_id += 1
        out = w.Writer(kind, self.next_id)
        fill(out)
        self.raw(out.packet())
        reply, body = w.read_packet(self.rfile)
        r = w.Reader(body)
        assert r.u32() == self.next_id
        if reply == w.STATUS:
            code, message = r.u32(), r.string().decode()
            if code != w.OK:
                raise SftpError(code, message)
        return reply, r

    def open(self, path: str, flags: int, perms: int | None = None) -> bytes:
        _, r = self.call(
            w.OPEN, lambda o: o.string(path.encode()).u32(flags).attrs(w.Attrs(perms=perms))
        )
        return r.string()

    def close(self, handle: bytes) -> None:
        self.call(w.CLOSE, lambda o: o.string(handle))

    def read(self, handle: bytes, offset: int, length: int) -> bytes:
        try:
            _, r = self.call(w.READ, lambda o: o.string(handle).u64(offset).u32(length))
        except SftpError as exc:
            if exc.code == w.EOF:
                return b""
            raise
        return r.string()

    def write(self, handle: bytes, offset: int, data: bytes) -> None:
        self.call(w.WRITE, lambda o: o.string(handle).u64(offset).string(data))

    def get(self, path: str) -> bytes:
        handle = self.open(path, w.FXF_READ)
        chunks, offset = [], 0
        while chunk := self.read(handle, offset, 65536):
            chunks.append(chunk)
            offset += len(chunk)
        self.close(handle)
        return b"".join(chunks)

    def put(self, path: str, data: bytes) -> None:
        handle = self.open(path, w.FXF_WRITE | w.FXF_CREAT | w.FXF_TRUNC, 0o644)
        self.write(handle, 0, data)
        self.close(handle)

    def _attrs(self, kind: int, path: str) -> w.Attrs:
        _, r = self.call(kind, lambda o: o.string(path.encode()))
        return r.attrs()

    def stat(self, path: str) -> w.Attrs:
        return self._attrs(w.STAT, path)

    def lstat(self, path: str) -> w.Attrs:
        return self._attrs(w.LSTAT, path)

    def setstat(self, path: str, attrs: w.Attrs) -> None:
        self.call(w.SETSTAT, lambda o: o.string(path.encode()).attrs(attrs))

    def listdir(self, path: str) -> list[str]:
        _, r = self.call(w.OPENDIR, lambda o: o.string(path.encode()))
        handle = r.string()
        names: list[str] = []
        while True:
            try:
                _, r = self.call(w.READDIR, lambda o: o.string(handle))
            except SftpError as exc:
                if exc.code == w.EOF:
                    break
                raise
            for _ in range(r.u32()):
                names.append(r.string().decode())
                r.string(), r.attrs()
        self.close(handle)
        return sorted(n for n in names if n not in (".", ".."))

    def _path_op(self, kind: int, *paths: str) -> w.Reader:
        def fill(o: w.Writer) -> None:
            for p in paths:
                o.string(p.encode())

        return self.call(kind, fill)[1]

    def remove(self, path: str) -> None:
        self._path_op(w.REMOVE, path)

    def rmdir(self, path: str) -> None:
        self._path_op(w.RMDIR, path)

    def mkdir(self, path: str) -> None:
        self.call(w.MKDIR, lambda o: o.string(path.encode()).attrs(w.Attrs(perms=0o755)))

    def rename(self, old: str, new: str) -> None:
        self._path_op(w.RENAME, old, new)

    def posix_rename(self, old: str, new: str) -> None:
        self.extended(b"posix-rename@openssh.com", old, new)

    def extended(self, name: bytes, *paths: str) -> w.Reader:
        def fill(o: w.Writer) -> None:
            o.string(name)
            for p in paths:
                o.string(p.encode())

        return self.call(w.EXTENDED, fill)[1]

    def symlink(self, target: str, link: str) -> None:
        self._path_op(w.SYMLINK, target, link)

    def _name(self, kind: int, path: str) -> str:
        r = self._path_op(kind, path)
        assert r.u32() == 1
        return r.string().decode()

    def readlink(self, path: str) -> str:
        return self._name(w.READLINK, path)

    def realpath(self, path: str) -> str:
        return self._name(w.REALPATH, path)


@contextmanager
def served(
    root: Path, events: list[str], *, desk: laptop_git.Desk | None = None
) -> Iterator[tuple[Client, threading.Thread]]:
    """A client talking to ``serve(root)`` on a thread over a socket pair."""
    ours, theirs = socket.socketpair()
    rfile, wfile = theirs.makefile("rb"), theirs.makefile("wb")

    def run() -> None:
        try:
            serve(str(root), rfile, wfile, report=events.append, desk=desk)
        finally:
            rfile.close()
            wfile.close()
            theirs.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = None
    try:
        client = Client(ours)
        yield client, thread
    finally:
        if client is not None:
            client.rfile.close()
        ours.close()
        thread.join(10)
