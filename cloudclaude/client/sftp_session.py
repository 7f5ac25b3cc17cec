"""One SFTP session's state: the confined root, the open handles (bounded) and the git
directory; the operations build on it (:mod:`sftp_paths`, :mod:`sftp_server`)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from typing import Union

from cloudclaude.client import laptop_git
from cloudclaude.client import sftp_wire as w
from cloudclaude.client.sftp_confine import Refused, Resolved, Root, protected, rule, split
from cloudclaude.client.sftp_gitdir import GitDir, RequestFile, ResultFile

MAX_HANDLES = 256


class FileHandle:
    def __init__(self, fd: int, append: bool) -> None:
        self.fd, self.append = fd, append


class DirHandle:
    def __init__(self, entries: Iterator[tuple[bytes, w.Attrs]], fd: int = -1) -> None:
        self.entries, self.fd = entries, fd


Handle = Union[FileHandle, DirHandle, RequestFile, ResultFile]


class Session:
    """One session's state: the root, the open handles and the git desk."""

    def __init__(self, root: str, report: Callable[[str], None], desk: laptop_git.Desk) -> None:
        hooks = laptop_git.hooks_path(root)
        why = "core.hooksPath names it: git on the laptop runs hooks from there"
        self.root = Root(root, [rule(hooks, "tree", why)] if hooks else [])
        self.report = report
        self.gitdir = GitDir(desk, os.fstat(self.root.fd))
        self.handles: dict[bytes, Handle] = {}
        self.counter = 0

    def close(self) -> None:
        for handle in list(self.handles.values()):
            self._release(handle)
        self.handles.clear()
        self.root.close()

    def _release(self, handle: Handle) -> None:
        if isinstance(handle, (RequestFile, ResultFile)):
            self.gitdir.close(handle)
            return
        if isinstance(handle, DirHandle):
            stop = getattr(handle.entries, "close", None)
            if stop is not None:
                stop()
        if handle.fd >= 0:
            os.close(handle.fd)

    def _new_handle(self, handle: Handle) -> bytes:
        if len(self.handles) >= MAX_HANDLES:
            self._release(handle)
            raise OSError(errno.EMFILE, f"more than {MAX_HANDLES} open handles")
        self.counter += 1
        key = self.counter.to_bytes(8, "big")
        self.handles[key] = handle
        return key

    def _handle(self, r: w.Reader) -> Handle:
        found = self.handles.get(r.string(256))
        if found is None:
            raise w.BadMessage("unknown handle")
        return found

    def _write_check(self, found: Resolved, op: str, *, moving_dir: bool = False) -> None:
        why = protected(found.parts, moving_dir=moving_dir, extra=self.root.extra)
        if why is None and not found.parts:
            why = "the checkout's root itself"
        if why is not None:
            raise Refused(f"{op} /{b'/'.join(found.parts).decode(errors='replace')}: {why}")

    def _resolve(self, path: bytes, follow: bool, write: str = "") -> Resolved:
        """Resolve ``path``; ``write`` names a write operation, refused at once when the path
        as given names a protected path (the resolved path is checked again by the caller)."""
        if write:
            lexical: list[bytes] = []
            for comp in split(path):
                if comp != b"..":
                    lexical.append(comp)
                elif lexical:
                    lexical.pop()
            self._write_check(Resolved(-1, b"", tuple(lexical)), write)
        try:
            return self.root.resolve(path, follow=follow)
        except Refused as exc:
            raise Refused(f"{path.decode(errors='replace')}: {exc}") from None
