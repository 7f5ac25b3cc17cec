"""The laptop's SFTP server for the box's sshfs: one checkout, confined, over two streams.

``serve(root, rfile, wfile, report=print)`` answers SFTP v3 requests in order, synchronously,
until the stream ends (or sends a packet over the limit: a clean close). The box's paths are
read with the checkout as ``/`` (:mod:`sftp_confine`: no ``..``, absolute or symlink escape,
no writes to the protected paths, no writes to a hard-linked file, since a link may be a
protected file). Extensions: posix-rename, statvfs and fsync (@openssh.com); hardlink is
refused (a hard link to ``.git/hooks/…`` would defeat the path checks). SYMLINK takes the
target first, then the link's path, as OpenSSH and sshfs do. Every refusal, and every git
request (``/.cloud-claude/git/``, :mod:`sftp_gitdir`), is reported by ``report``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from cloudclaude.client import laptop_git
from cloudclaude.client import sftp_wire as w
from cloudclaude.client.sftp_confine import Refused
from cloudclaude.client.sftp_gitdir import RequestFile, ResultFile, virtual_parts
from cloudclaude.client.sftp_paths import PathOps
from cloudclaude.client.sftp_session import FileHandle

EXTENSIONS = {
    b"posix-rename@openssh.com": b"1",
    b"statvfs@openssh.com": b"2",
    b"fsync@openssh.com": b"1",
}
_ERRNO = {
    errno.ENOENT: w.NO_SUCH_FILE,
    errno.ENOTDIR: w.NO_SUCH_FILE,
    errno.EACCES: w.PERMISSION_DENIED,
    errno.EPERM: w.PERMISSION_DENIED,
    errno.EROFS: w.PERMISSION_DENIED,
    errno.ENOSYS: w.OP_UNSUPPORTED,
}
#: chmod from the box: no setuid, setgid, sticky or world-write bits.
_MODE_BITS = 0o775
_WRITE_FLAGS = w.FXF_WRITE | w.FXF_APPEND | w.FXF_CREAT | w.FXF_TRUNC


class Server(PathOps):
    """The whole server: the attribute and file operations, and the dispatch."""

    def handle(self, kind: int, payload: bytes) -> bytes:
        """The answer to one request packet (the caller writes it)."""
        r = w.Reader(payload)
        request_id = r.u32()
        op = _OPS.get(kind)
        try:
            if op is None:
                return w.status(request_id, w.OP_UNSUPPORTED)
            return op(self, request_id, r)
        except Refused as exc:
            self.report(f"refused: {exc}")
            return w.status(request_id, w.PERMISSION_DENIED, str(exc))
        except w.BadMessage as exc:
            return w.status(request_id, w.BAD_MESSAGE, str(exc))
        except OSError as exc:
            code = _ERRNO.get(exc.errno or 0, w.FAILURE)
            return w.status(request_id, code, exc.strerror or str(exc))
        except (ValueError, OverflowError) as exc:  # e.g. an offset beyond off_t
            return w.status(request_id, w.FAILURE, str(exc))

    # --- attributes -------------------------------------------------------------------

    def _stat(self, rid: int, r: w.Reader, follow: bool) -> bytes:
        path = r.path()
        rest = virtual_parts(path)
        if rest is not None:
            return w.Writer(w.ATTRS, rid).attrs(self.gitdir.stat(rest)).packet()
        found = self._resolve(path, follow)
        try:
            st = os.stat(found.name, dir_fd=found.parent, follow_symlinks=False)
        finally:
            os.close(found.parent)
        return w.Writer(w.ATTRS, rid).attrs(w.attrs_of(st)).packet()

    def op_lstat(self, rid: int, r: w.Reader) -> bytes:
        return self._stat(rid, r, follow=False)

    def op_stat(self, rid: int, r: w.Reader) -> bytes:
        return self._stat(rid, r, follow=True)

    def op_fstat(self, rid: int, r: w.Reader) -> bytes:
        handle = self._handle(r)
        if isinstance(handle, (RequestFile, ResultFile)):
            a = w.Attrs(len(handle.data), perms=0o100644)
        elif isinstance(handle, FileHandle):
            a = w.attrs_of(os.fstat(handle.fd))
        else:
            raise w.BadMessage("not a file handle")
        return w.Writer(w.ATTRS, rid).attrs(a).packet()

    def _apply(self, fd: int, a: w.Attrs, what: bytes) -> None:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise Refused(f"setstat {what.decode(errors='replace')}: a hard-linked file")
        if a.uid is not None and (a.uid, a.gid) != (st.st_uid, st.st_gid):
            raise Refused("changing a file's owner")
        if a.size is not None:
            os.ftruncate(fd, a.size)
        if a.perms is not None:
            os.chmod(fd, a.perms & _MODE_BITS)
        if a.atime is not None and a.mtime is not None:
            os.utime(fd, (a.atime, a.mtime))

    def op_setstat(self, rid: int, r: w.Reader) -> bytes:
        path, a = r.path(), r.attrs()
        if virtual_parts(path) is not None:
            return w.status(rid, w.OK)
        found = self._resolve(path, follow=True, write="setstat")
        try:
            self._write_check(found, "setstat")
            mode = os.stat(found.name, dir_fd=found.parent, follow_symlinks=False).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise OSError(errno.EINVAL, "not a regular file or directory")
            flags = os.O_WRONLY if a.size is not None and stat.S_ISREG(mode) else os.O_RDONLY
            fd = os.open(found.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        try:
            self._apply(fd, a, path)
        finally:
            os.close(fd)
        return w.status(rid, w.OK)

    def op_fsetstat(self, rid: int, r: w.Reader) -> bytes:
        handle, a = self._handle(r), r.attrs()
        if isinstance(handle, RequestFile) and a.size is not None:
            del handle.data[a.size :]
        elif isinstance(handle, FileHandle):
            self._apply(handle.fd, a, b"(open file)")
        return w.status(rid, w.OK)

    # --- files ------------------------------------------------------------------------

    def op_open(self, rid: int, r: w.Reader) -> bytes:
        path, pflags, a = r.path(), r.u32(), r.attrs()
        writing = bool(pflags & _WRITE_FLAGS)
        rest = virtual_parts(path)
        if rest is not None:
            key = self._new_handle(self.gitdir.open(rest, writing))
            return w.Writer(w.HANDLE, rid).string(key).packet()
        flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        flags |= os.O_RDWR if pflags & w.FXF_READ and writing else os.O_WRONLY if writing else 0
        flags |= os.O_CREAT if pflags & w.FXF_CREAT else 0
        flags |= os.O_EXCL if pflags & w.FXF_EXCL else 0
        found = self._resolve(path, follow=True, write="write" if writing else "")
        try:
            if writing:
                self._write_check(found, "write")
            try:  # a device or FIFO is never opened (opening one can block or act)
                mode = os.stat(found.name, dir_fd=found.parent, follow_symlinks=False).st_mode
            except FileNotFoundError:
                mode = stat.S_IFREG
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, "not a regular file")
            fd = os.open(found.name, flags, (a.perms or 0o644) & 0o777, dir_fd=found.parent)
        finally:
            os.close(found.parent)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if writing and st.st_nlink > 1:
                raise Refused(f"write {path.decode(errors='replace')}: a hard-linked file")
            if pflags & w.FXF_TRUNC:
                os.ftruncate(fd, 0)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        key = self._new_handle(FileHandle(fd, bool(pflags & w.FXF_APPEND)))
        return w.Writer(w.HANDLE, rid).string(key).packet()

    def op_close(self, rid: int, r: w.Reader) -> bytes:
        key = r.string(256)
        handle = self.handles.pop(key, None)
        if handle is None:
            raise w.BadMessage("unknown handle")
        self._release(handle)
        return w.status(rid, w.OK)

    def op_read(self, rid: int, r: w.Reader) -> bytes:
        handle, offset, length = self._handle(r), r.u64(), min(r.u32(), w.MAX_READ)
        if isinstance(handle, (ResultFile, RequestFile)):
            data = bytes(handle.data[offset : offset + length])
        elif isinstance(handle, FileHandle):
            data = os.pread(handle.fd, length, offset)
        else:
            raise w.BadMessage("not a file handle")
        if not data:
            return w.status(rid, w.EOF)
        return w.Writer(w.DATA, rid).string(data).packet()

    def op_write(self, rid: int, r: w.Reader) -> bytes:
        handle, offset, data = self._handle(r), r.u64(), r.string()
        if isinstance(handle, RequestFile):
            handle.write(offset, data)
        elif isinstance(handle, FileHandle):
            written = os.write(handle.fd, data) if handle.append else 0
            while written < len(data):
                written += os.pwrite(handle.fd, data[written:], offset + written)
        else:
            raise Refused("not writable")
        return w.status(rid, w.OK)


_OPS: dict[int, Callable[[Server, int, w.Reader], bytes]] = {
    w.OPEN: Server.op_open,
    w.CLOSE: Server.op_close,
    w.READ: Server.op_read,
    w.WRITE: Server.op_write,
    w.LSTAT: Server.op_lstat,
    w.FSTAT: Server.op_fstat,
    w.SETSTAT: Server.op_setstat,
    w.FSETSTAT: Server.op_fsetstat,
    w.OPENDIR: Server.op_opendir,
    w.READDIR: Server.op_readdir,
    w.REMOVE: Server.op_remove,
    w.MKDIR: Server.op_mkdir,
    w.RMDIR: Server.op_rmdir,
    w.REALPATH: Server.op_realpath,
    w.STAT: Server.op_stat,
    w.RENAME: Server.op_rename,
    w.READLINK: Server.op_readlink,
    w.SYMLINK: Server.op_symlink,
    w.EXTENDED: Server.op_extended,
}


def serve(
    root: str,
    rfile: BinaryIO,
    wfile: BinaryIO,
    *,
    report: Callable[[str], None] = lambda _line: None,
    desk: laptop_git.Desk | None = None,
) -> None:
    """Serve ``root`` until the stream ends; ``report`` gets one line per refusal and git
    request (called from this thread and from the git worker: keep it thread-safe). Returns
    quietly on end of stream, a bad INIT or an oversized packet. The box mounts it with
    ``sshfs -o passive :/ MOUNTPOINT``; pass one ``desk`` across reconnects to keep results."""
    own_desk = desk is None
    desk = desk or laptop_git.Desk(root, report)
    server = Server(root, report, desk)
    try:
        kind, payload = w.read_packet(rfile)
        if kind != w.INIT or len(payload) < 4:
            report("sftp: the client did not start with INIT; closing")
            return
        reply = w.Writer(w.VERSION_REPLY).u32(w.VERSION)
        for name, value in EXTENSIONS.items():
            reply.string(name).string(value)
        wfile.write(reply.packet())
        wfile.flush()
        while True:
            kind, payload = w.read_packet(rfile)
            if len(payload) < 4:
                report("sftp: a packet without a request id; closing")
                return
            wfile.write(server.handle(kind, payload))
            wfile.flush()
    except w.Closed as exc:
        if str(exc) != "stream ended":
            report(f"sftp: {exc}; closing")
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        server.close()
        if own_desk:
            desk.close()
