"""SFTP version 3 on the wire (draft-ietf-secsh-filexfer-02, what OpenSSH and sshfs speak).

Packets are ``uint32 length | byte type | payload``; every request but INIT carries a
``uint32 id`` first. Everything read here comes from the box, so every length is bounded
before anything is allocated: a packet over :data:`MAX_PACKET` ends the session.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import BinaryIO, NamedTuple

VERSION = 3
#: Largest packet accepted: a 256 KiB WRITE plus its header and path.
MAX_PACKET = 256 * 1024 + 1024
#: Largest READ answered (a bigger request gets this many bytes, as OpenSSH does).
MAX_READ = 256 * 1024
#: Longest path or name accepted.
MAX_PATH = 4096

# Packet types.
INIT, VERSION_REPLY = 1, 2
OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME = 11, 12, 13, 14, 15, 16, 17, 18
READLINK, SYMLINK = 19, 20
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201

# Status codes.
OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED, FAILURE = 0, 1, 2, 3, 4
BAD_MESSAGE, NO_CONNECTION, CONNECTION_LOST, OP_UNSUPPORTED = 5, 6, 7, 8

# OPEN flags.
FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC, FXF_EXCL = 1, 2, 4, 8, 0x10, 0x20

# Attribute flags.
A_SIZE, A_UIDGID, A_PERMISSIONS, A_ACMODTIME, A_EXTENDED = 1, 2, 4, 8, 0x80000000


class BadMessage(Exception):
    """A packet that does not parse: answered with SSH_FX_BAD_MESSAGE."""


class Closed(Exception):
    """The stream ended, or sent a packet too large to read: the session ends."""


class Attrs(NamedTuple):
    size: int | None = None
    uid: int | None = None
    gid: int | None = None
    perms: int | None = None
    atime: int | None = None
    mtime: int | None = None


def attrs_of(st: os.stat_result) -> Attrs:
    return Attrs(st.st_size, st.st_uid, st.st_gid, st.st_mode, int(st.st_atime), int(st.st_mtime))


class Reader:
    """Reads the fields of one packet's payload; any overrun is a :class:`BadMessage`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadMessage("packet too short")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def string(self, limit: int = MAX_PACKET) -> bytes:
        n = self.u32()
        if n > limit:
            raise BadMessage("string too long")
        return self._take(n)

    def path(self) -> bytes:
        value = self.string(MAX_PATH)
        if b"\0" in value:
            raise BadMessage("NUL in a path")
        return value

    def attrs(self) -> Attrs:
        flags = self.u32()
        size = self.u64() if flags & A_SIZE else None
        uid, gid = (self.u32(), self.u32()) if flags & A_UIDGID else (None, None)
        perms = self.u32() if flags & A_PERMISSIONS else None
        atime, mtime = (self.u32(), self.u32()) if flags & A_ACMODTIME else (None, None)
        if flags & A_EXTENDED:
            for _ in range(min(self.u32(), 64)):
                self.string(), self.string()
        return Attrs(size, uid, gid, perms, atime, mtime)


class Writer:
    """Builds one packet: ``Writer(kind, id).u32(…).string(…).packet()``."""

    def __init__(self, kind: int, request_id: int | None = None) -> None:
        self.parts = [bytes([kind])]
        if request_id is not None:
            self.u32(request_id)

    def u32(self, value: int) -> Writer:
        self.parts.append(struct.pack(">I", value & 0xFFFFFFFF))
        return self

    def u64(self, value: int) -> Writer:
        self.parts.append(struct.pack(">Q", value & 0xFFFFFFFFFFFFFFFF))
        return self

    def string(self, value: bytes) -> Writer:
        self.u32(len(value))
        self.parts.append(value)
        return self

    def attrs(self, a: Attrs) -> Writer:
        flags = (
            (A_SIZE if a.size is not None else 0)
            | (A_UIDGID if a.uid is not None and a.gid is not None else 0)
            | (A_PERMISSIONS if a.perms is not None else 0)
            | (A_ACMODTIME if a.atime is not None and a.mtime is not None else 0)
        )
        self.u32(flags)
        if a.size is not None:
            self.u64(a.size)
        if a.uid is not None and a.gid is not None:
            self.u32(a.uid).u32(a.gid)
        if a.perms is not None:
            self.u32(a.perms)
        if a.atime is not None and a.mtime is not None:
            self.u32(a.atime).u32(a.mtime)
        return self

    def packet(self) -> bytes:
        body = b"".join(self.parts)
        return struct.pack(">I", len(body)) + body


def status(request_id: int, code: int, message: str = "") -> bytes:
    text = message or _MESSAGES.get(code, "failure")
    return Writer(STATUS, request_id).u32(code).string(text.encode()).string(b"en").packet()


_MESSAGES = {
    OK: "ok",
    EOF: "end of file",
    NO_SUCH_FILE: "no such file",
    PERMISSION_DENIED: "permission denied",
    FAILURE: "failure",
    BAD_MESSAGE: "bad message",
    OP_UNSUPPORTED: "operation unsupported",
}


def _read_exactly(rfile: BinaryIO, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = rfile.read(n)
        if not chunk:
            raise Closed("stream ended")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_packet(rfile: BinaryIO) -> tuple[int, bytes]:
    """One packet's type and payload; :class:`Closed` at the end or on an oversized packet."""
    (length,) = struct.unpack(">I", _read_exactly(rfile, 4))
    if length < 1 or length > MAX_PACKET:
        raise Closed(f"packet of {length} bytes refused (limit {MAX_PACKET})")
    body = _read_exactly(rfile, length)
    return body[0], body[1:]


def longname(name: bytes, st: os.stat_result) -> bytes:
    """An ``ls -l`` style line (sshfs ignores it; the ``sftp`` client shows it)."""
    line = (
        f"{stat.filemode(st.st_mode)} {st.st_nlink:>3} {st.st_uid:<8} {st.st_gid:<8} "
        f"{st.st_size:>8} "
    )
    return line.encode() + name
