"""The virtual directory ``/.cloud-claude/git/`` in the served tree: the git request files.

It shadows any real ``.cloud-claude`` entry of the checkout and is not listed in the root's
directory (so ``git status`` in the box does not see it). See :mod:`laptop_git` for the
protocol; this module only maps SFTP operations onto a :class:`laptop_git.Desk`.
"""

from __future__ import annotations

import os
import time
from typing import Union

from cloudclaude.client import laptop_git
from cloudclaude.client.sftp_confine import Refused, fold, split
from cloudclaude.client.sftp_wire import Attrs

TOP = ".cloud-claude"
_REQUEST, _RESULT = ".request", ".result"


class RequestFile:
    """An open ``<id>.request``: the bytes written, bounded; submitted when closed."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.data = bytearray()

    def write(self, offset: int, chunk: bytes) -> None:
        if offset + len(chunk) > laptop_git.MAX_REQUEST:
            raise Refused("a git request is at most 8 KiB")
        if offset > len(self.data):
            self.data += bytes(offset - len(self.data))
        self.data[offset : offset + len(chunk)] = chunk


class ResultFile:
    def __init__(self, data: bytes) -> None:
        self.data = data


VirtualHandle = Union[RequestFile, ResultFile]


def virtual_parts(path: bytes) -> list[bytes] | None:
    """The components below ``/.cloud-claude`` when ``path`` is in it, else None."""
    parts = split(path)
    if parts and fold(parts[0]) == TOP:
        return parts[1:]
    return None


class GitDir:
    """The virtual directory over one :class:`laptop_git.Desk`."""

    def __init__(self, desk: laptop_git.Desk, owner: os.stat_result) -> None:
        self.desk = desk
        self.owner = owner
        self.writing: dict[str, int] = {}

    def _attrs(self, mode: int, size: int) -> Attrs:
        now = int(time.time())
        return Attrs(size, self.owner.st_uid, self.owner.st_gid, mode, now, now)

    def _entry(self, rest: list[bytes]) -> tuple[str, str]:
        """(id, kind) of ``git/<id>.request`` or ``git/<id>.result``; else ENOENT."""
        if len(rest) == 2 and rest[0] == b"git":
            name = rest[1].decode("ascii", "replace")
            for kind in (_REQUEST, _RESULT):
                base = name[: -len(kind)]
                if name.endswith(kind) and laptop_git.ID.fullmatch(base):
                    return base, kind
        raise FileNotFoundError(2, "no such file")

    def stat(self, rest: list[bytes]) -> Attrs:
        if rest in ([], [b"git"]):
            return self._attrs(0o40777, 0)
        request_id, kind = self._entry(rest)
        if kind == _REQUEST and request_id in self.writing:
            return self._attrs(0o100666, 0)
        found = self.desk.result(request_id) if kind == _RESULT else None
        if found is None:
            raise FileNotFoundError(2, "no such file")
        return self._attrs(0o100666, len(found))

    def listing(self, rest: list[bytes]) -> list[tuple[bytes, Attrs]]:
        if rest == []:
            return [(b"git", self.stat([b"git"]))]
        if rest == [b"git"]:
            names = [f"{n}{_RESULT}".encode() for n in self.desk.names()]
            return [(n, self.stat([b"git", n])) for n in names]
        raise NotADirectoryError(20, "not a directory")

    def open(self, rest: list[bytes], writing: bool) -> VirtualHandle:
        request_id, kind = self._entry(rest)
        if kind == _REQUEST and writing:
            self.writing[request_id] = self.writing.get(request_id, 0) + 1
            return RequestFile(request_id)
        if kind == _RESULT and not writing:
            found = self.desk.result(request_id)
            if found is None:
                raise FileNotFoundError(2, "no such file")
            return ResultFile(found)
        raise Refused("requests are written, results are read")

    def close(self, handle: VirtualHandle) -> None:
        if isinstance(handle, RequestFile):
            left = self.writing.pop(handle.request_id, 1) - 1
            if left:
                self.writing[handle.request_id] = left
            if handle.data:
                self.desk.submit(handle.request_id, bytes(handle.data))

    def remove(self, rest: list[bytes]) -> None:
        request_id, kind = self._entry(rest)
        if kind == _RESULT and not self.desk.forget(request_id):
            raise FileNotFoundError(2, "no such file")
