"""Mounts of the host's mount namespace, as the agent reads and makes them for a box's disk.

The agent runs in the host's mount namespace, as dockerd does, so a mount it makes over a
container's layer directory is the one dockerd sees. Reading is ``/proc/self/mountinfo`` and
``/sys/block/loop*`` (plain files: call these on a worker thread); changing is the util-linux
tools, argv only, each with a deadline and its stderr kept up to a cap
(``run``), every failure an ``AgentError`` with the caller's registry code.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import attrs
import trio

from agent import errors

MOUNTINFO = Path("/proc/self/mountinfo")
SYS_BLOCK = Path("/sys/block")
#: What is kept of a failed command's stderr (its head: where it first went wrong).
STDERR_MAX = 16 * 1024
NO_SPACE = "No space left on device"
_OCTAL = re.compile(r"\\([0-7]{3})")


@attrs.frozen(kw_only=True)
class Mount:
    """One line of mountinfo."""

    #: ``major:minor`` of the mounted filesystem (a loop device's own numbers for an image).
    device: str
    #: The directory inside that filesystem that appears here (``/`` unless a bind).
    root: str
    #: Where it is mounted.
    point: str
    #: In a peer group: mounts and unmounts beneath it propagate to copies of it.
    shared: bool
    #: The device or name it was mounted from (``/dev/loop3``).
    source: str


def unescape(field: str) -> str:
    """A mountinfo path with its octal escapes (``\\040`` for a space) decoded."""
    return _OCTAL.sub(lambda match: chr(int(match[1], 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a mountinfo text, in its order (a later mount on a path is on top)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            separator = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < separator + 3:
            continue
        mounts.append(
            Mount(
                device=fields[2],
                root=unescape(fields[3]),
                point=unescape(fields[4]),
                shared=any(tag.startswith("shared:") for tag in fields[6:separator]),
                source=unescape(fields[separator + 2]),
            )
        )
    return mounts


def read_mounts() -> list[Mount]:
    """The agent's (the host's) mounts. Blocking: call on a worker thread."""
    return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))


def mount_at(mounts: Iterable[Mount], path: Path) -> Mount | None:
    """The topmost mount on exactly ``path``, or None."""
    target, found = str(path), None
    for mount in mounts:
        if mount.point == target:
            found = mount
    return found


def is_mounted(path: Path) -> bool:
    """Whether something is mounted exactly on ``path``. Blocking: call on a worker thread."""
    return mount_at(read_mounts(), path) is not None


def is_self_bind(mounts: list[Mount], path: Path) -> bool:
    """Whether the top mount on ``path`` binds ``path`` onto itself (``mount --bind P P``),
    rather than being a filesystem of its own (say an admin's disk for the volumes)."""
    target = str(path)
    on_path = [index for index, mount in enumerate(mounts) if mount.point == target]
    if not on_path:
        return False
    top = mounts[on_path[-1]]
    beneath, inner = None, ""
    for mount in mounts[: on_path[-1]]:
        below = _below(mount.point, target)
        if below is not None:
            beneath, inner = mount, below
    if beneath is None or beneath.device != top.device:
        return False
    return top.root == (beneath.root.rstrip("/") + inner or "/")


def _below(point: str, target: str) -> str | None:
    """``target`` relative to mount point ``point`` (``""`` itself, ``/a/b`` beneath), or None."""
    if target == point:
        return ""
    prefix = point.rstrip("/")
    return target[len(prefix) :] if target.startswith(prefix + "/") else None


def deepest_first(mounts: Iterable[Mount]) -> list[Mount]:
    """Mounts in an order they can be unmounted in: a mount before the one it sits on."""
    return sorted(mounts, key=lambda mount: mount.point.count("/"), reverse=True)


def loop_devices(image: Path) -> list[str]:
    """``major:minor`` of every loop device backed by ``image``. Blocking: a worker thread."""
    target = str(image.resolve())
    found = []
    for entry in SYS_BLOCK.glob("loop*"):
        try:
            backing = (entry / "loop" / "backing_file").read_text(encoding="utf-8").strip()
            device = (entry / "dev").read_text(encoding="utf-8").strip()
        except OSError:  # not attached, or detached meanwhile
            continue
        if backing in (target, f"{target} (deleted)"):
            found.append(device)
    return sorted(found)


class CommandFailed(errors.AgentError):
    """A command exited non-zero, could not run, or ran past its deadline."""

    def __init__(self, code: str, message: str, stderr: str = "") -> None:
        super().__init__(code, message)
        self.stderr = stderr

    @property
    def no_space(self) -> bool:
        return NO_SPACE in self.stderr


async def run(
    argv: list[str],
    *,
    deadline_s: float,
    code: str,
    ok: tuple[int, ...] = (0,),
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.DEVNULL,
) -> None:
    """Run ``argv`` (never a shell) to its end within ``deadline_s``, exiting with one of
    ``ok``; else ``CommandFailed``.

    Past the deadline the command is killed. Its stdin and stdout are null unless fds are
    given (a home's tar reads or writes a passed socket); its stderr is read to the
    end but only its first ``STDERR_MAX`` bytes are kept (a box names the files a copy of its
    layer complains about).
    """
    head = bytearray()
    process: trio.Process | None = None
    with trio.move_on_after(deadline_s) as scope:
        try:
            process = await trio.lowlevel.open_process(
                argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise CommandFailed(code, f"{argv[0]} could not run: {exc}") from exc
        try:
            assert process.stderr is not None
            while chunk := await process.stderr.receive_some(65536):
                head += chunk[: max(0, STDERR_MAX - len(head))]
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True):
                if process.stderr is not None:
                    await process.stderr.aclose()
                await process.wait()
    if scope.cancelled_caught or process is None:
        raise CommandFailed(code, f"{argv[0]} did not finish within {deadline_s:g}s")
    if process.returncode not in ok:
        stderr = head.decode(errors="replace").strip()
        detail = stderr[:2000] or f"exit {process.returncode}"
        raise CommandFailed(code, f"{argv[0]} failed: {detail}", stderr)
