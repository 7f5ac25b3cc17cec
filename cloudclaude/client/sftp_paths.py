"""The SFTP operations on names and directories: opendir, readdir, mkdir, remove, rmdir,
realpath, rename, readlink, symlink, and the @openssh.com extensions."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from cloudclaude.client import sftp_wire as w
from cloudclaude.client.sftp_confine import Refused
from cloudclaude.client.sftp_gitdir import virtual_parts
from cloudclaude.client.sftp_session import DirHandle, FileHandle, Session

#: Entries per READDIR answer.
DIR_BATCH = 100


class PathOps(Session):
    def op_opendir(self, rid: int, r: w.Reader) -> bytes:
        path = r.path()
        rest = virtual_parts(path)
        if rest is not None:
            key = self._new_handle(DirHandle(iter(self.gitdir.listing(rest))))
            return w.Writer(w.HANDLE, rid).string(key).packet()
        found = self._resolve(path, follow=True)
        try:
            fd = os.open(
                found.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=found.parent
            )
        finally:
            os.close(found.parent)
        key = self._new_handle(DirHandle(_entries(fd), fd))
        return w.Writer(w.HANDLE, rid).string(key).packet()

    def op_readdir(self, rid: int, r: w.Reader) -> bytes:
        handle = self._handle(r)
        if not isinstance(handle, DirHandle):
            raise w.BadMessage("not a directory handle")
        batch = [e for _, e in zip(range(DIR_BATCH), handle.entries)]
        if not batch:
            return w.status(rid, w.EOF)
        out = w.Writer(w.NAME, rid).u32(len(batch))
        for name, a in batch:
            mode = a.perms or 0
            fake = os.stat_result((mode, 0, 0, 1, a.uid or 0, a.gid or 0, a.size or 0, 0, 0, 0))
            out.string(name).string(w.longname(name, fake)).attrs(a)
        return out.packet()

    def op_mkdir(self, rid: int, r: w.Reader) -> bytes:
        path, a = r.path(), r.attrs()
        found = self._resolve(path, follow=False, write="mkdir")
        try:
            self._write_check(found, "mkdir")
            os.mkdir(found.name, (a.perms or 0o755) & 0o777, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        return w.status(rid, w.OK)

    def op_remove(self, rid: int, r: w.Reader, *, directory: bool = False) -> bytes:
        path = r.path()
        rest = virtual_parts(path)
        if rest is not None and not directory:
            self.gitdir.remove(rest)
            return w.status(rid, w.OK)
        found = self._resolve(path, follow=False, write="rmdir" if directory else "remove")
        try:
            self._write_check(found, "rmdir" if directory else "remove")
            (os.rmdir if directory else os.unlink)(found.name, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        return w.status(rid, w.OK)

    def op_rmdir(self, rid: int, r: w.Reader) -> bytes:
        return self.op_remove(rid, r, directory=True)

    def op_realpath(self, rid: int, r: w.Reader) -> bytes:
        path = r.path()
        rest = virtual_parts(path)
        if rest is not None:
            parts: tuple[bytes, ...] = (b".cloud-claude", *rest)
        else:
            found = self._resolve(path, follow=True)
            os.close(found.parent)
            parts = found.parts
        name = b"/" + b"/".join(parts)
        a = w.Attrs()
        return w.Writer(w.NAME, rid).u32(1).string(name).string(name).attrs(a).packet()

    def op_rename(self, rid: int, r: w.Reader, *, replace: bool = False) -> bytes:
        old_path, new_path = r.path(), r.path()
        if virtual_parts(old_path) is not None or virtual_parts(new_path) is not None:
            raise Refused("renaming in /.cloud-claude")
        old = self._resolve(old_path, follow=False, write="rename from")
        try:
            new = self._resolve(new_path, follow=False, write="rename to")
            try:
                st = os.stat(old.name, dir_fd=old.parent, follow_symlinks=False)
                is_dir = stat.S_ISDIR(st.st_mode)
                self._write_check(old, "rename from", moving_dir=is_dir)
                self._write_check(new, "rename to", moving_dir=is_dir)
                if not replace:
                    try:
                        os.stat(new.name, dir_fd=new.parent, follow_symlinks=False)
                    except FileNotFoundError:
                        pass
                    else:
                        raise OSError(errno.EEXIST, "the target exists")
                os.rename(old.name, new.name, src_dir_fd=old.parent, dst_dir_fd=new.parent)
            finally:
                os.close(new.parent)
        finally:
            os.close(old.parent)
        return w.status(rid, w.OK)

    def op_readlink(self, rid: int, r: w.Reader) -> bytes:
        found = self._resolve(r.path(), follow=False)
        try:
            target = os.readlink(found.name, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        return w.Writer(w.NAME, rid).u32(1).string(target).string(target).attrs(w.Attrs()).packet()

    def op_symlink(self, rid: int, r: w.Reader) -> bytes:
        target, link_path = r.path(), r.path()
        found = self._resolve(link_path, follow=False, write="symlink at")
        try:
            self._write_check(found, "symlink at")
            self.root.symlink_target_ok(found.parts, target)
            os.symlink(target, found.name, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        return w.status(rid, w.OK)

    def op_extended(self, rid: int, r: w.Reader) -> bytes:
        name = r.string(256)
        if name == b"posix-rename@openssh.com":
            return self.op_rename(rid, r, replace=True)
        if name == b"fsync@openssh.com":
            handle = self._handle(r)
            if isinstance(handle, FileHandle):
                os.fsync(handle.fd)
            return w.status(rid, w.OK)
        if name == b"statvfs@openssh.com":
            v = os.fstatvfs(self.root.fd)
            out = w.Writer(w.EXTENDED_REPLY, rid)
            for value in (v.f_bsize, v.f_frsize, v.f_blocks, v.f_bfree, v.f_bavail, v.f_files):
                out.u64(value)
            for value in (v.f_ffree, v.f_favail, 0, v.f_flag, v.f_namemax):
                out.u64(value)
            return out.packet()
        if name == b"hardlink@openssh.com":
            raise Refused("hard links (a link to a protected file would defeat the checks)")
        return w.status(rid, w.OP_UNSUPPORTED)


def _entries(fd: int) -> Iterator[tuple[bytes, w.Attrs]]:
    """A directory's entries with their attributes, read lazily (bounded batches)."""
    here = w.attrs_of(os.fstat(fd))
    yield b".", here
    yield b"..", here
    with os.scandir(fd) as it:
        for entry in it:
            name = os.fsencode(entry.name)
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            yield name, w.attrs_of(st)
