"""A container's processes and CPU time, read from the host's cgroup files and ``/proc``.

Nothing here runs inside a box: the kernel keeps these counters and the box cannot write them
(its cgroup file system is read-only and it has no ``SYS_ADMIN``). The container's cgroup is
found from one of its processes' ``/proc/<pid>/cgroup`` and the agent's own mount table, so the
cgroupfs and systemd drivers, cgroups v1 (``cpuacct.usage``) and v2 (``cpu.stat``) all work.
Every read is bounded (a file's first bytes, at most ``limit`` processes); the functions block,
so callers run them on a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import attrs

from agent import errors

#: A ``/proc`` or cgroup file is read up to this many bytes (a stat line is far shorter).
FILE_MAX = 64 * 1024
#: A command line is looked at up to this many bytes (enough for an interpreter and a script).
CMDLINE_MAX = 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@attrs.frozen(kw_only=True)
class Cgroup:
    """Where one container's counters are on the host."""

    version: int
    #: The container's cgroup directory (in the ``cpuacct`` hierarchy on v1).
    path: Path

    @property
    def cpu_file(self) -> Path:
        return self.path / ("cpuacct.usage" if self.version == 1 else "cpu.stat")


@attrs.frozen(kw_only=True)
class ProcStat:
    pid: int
    comm: str
    ppid: int
    #: User plus system CPU time of all its threads, in seconds.
    cpu_s: float


def _read(path: Path | str, limit: int = FILE_MAX) -> bytes:
    with open(path, "rb") as file:
        return file.read(limit)


def _unreadable(what: str, exc: Exception | None = None) -> errors.AgentError:
    return errors.AgentError(errors.ACTIVITY_UNREADABLE, f"{what}{f': {exc}' if exc else ''}")


def _mounts(mountinfo: str) -> Iterator[tuple[str, str, str, set[str]]]:
    """``(root, mount point, fstype, super options)`` of each cgroup mount in a mountinfo."""
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or not tail[0].startswith("cgroup"):
            continue
        yield fields[3], fields[4], tail[0], set(tail[2].split(","))


def _join(mount_root: str, mount_point: str, cgroup_path: str) -> Path | None:
    """The directory of ``cgroup_path`` under a mount of the hierarchy's ``mount_root``."""
    root = mount_root.rstrip("/")
    if root and cgroup_path != root and not cgroup_path.startswith(root + "/"):
        return None
    relative = cgroup_path[len(root) :].lstrip("/")
    if ".." in relative.split("/"):
        return None
    return Path(mount_point) / relative


def resolve(proc_cgroup: str, mountinfo: str, container_id: str) -> Cgroup:
    """The container's cgroup from a member's ``/proc/<pid>/cgroup`` (pure, unit-tested).

    cgroups v1 wins when a ``cpuacct`` hierarchy is mounted (hybrid hosts also mount v2, where
    docker's cgroupfs driver puts nothing). The path must name the container: a process that
    left it, or the root cgroup, would count the wrong processes.
    """
    v1: str | None = None
    v2: str | None = None
    for line in proc_cgroup.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = path
        elif "cpuacct" in controllers.split(","):
            v1 = path
    mounts = list(_mounts(mountinfo))
    found: Cgroup | None = None
    if v1 is not None:
        for root, point, fstype, options in mounts:
            if fstype == "cgroup" and "cpuacct" in options:
                joined = _join(root, point, v1)
                if joined is not None:
                    found = Cgroup(version=1, path=joined)
                    break
    if found is None and v2 is not None and v1 is None:
        for root, point, fstype, _options in mounts:
            if fstype == "cgroup2":
                joined = _join(root, point, v2)
                if joined is not None:
                    found = Cgroup(version=2, path=joined)
                    break
    if found is None:
        raise _unreadable("no cpuacct (v1) or cgroup2 hierarchy holds the container")
    if not container_id or container_id not in found.path.name:
        raise _unreadable(f"{found.path} is not the cgroup of container {container_id[:12]}")
    return found


def locate(pid: int, container_id: str) -> Cgroup:
    """The cgroup of the container that process ``pid`` (a host PID) belongs to."""
    try:
        proc_cgroup = _read(f"/proc/{pid}/cgroup").decode(errors="replace")
        mountinfo = _read("/proc/self/mountinfo", 1024 * 1024).decode(errors="replace")
    except OSError as exc:
        raise _unreadable(f"process {pid} of the container", exc) from exc
    return resolve(proc_cgroup, mountinfo, container_id)


def parse_cpu(version: int, text: str) -> float:
    """CPU seconds from ``cpuacct.usage`` (v1, nanoseconds) or ``cpu.stat`` (v2, usage_usec)."""
    try:
        if version == 1:
            return int(text.strip()) / 1e9
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    except ValueError as exc:
        raise _unreadable(f"unreadable CPU counter {text[:80]!r}") from exc
    raise _unreadable("cpu.stat has no usage_usec")


def cpu_seconds(cgroup: Cgroup) -> float:
    try:
        text = _read(cgroup.cpu_file).decode(errors="replace")
    except OSError as exc:
        raise _unreadable(f"{cgroup.cpu_file}", exc) from exc
    return parse_cpu(cgroup.version, text)


def pids(cgroup: Cgroup, limit: int) -> tuple[list[int], bool]:
    """Host PIDs of the container's processes (sub-cgroups too); True when cut at ``limit``."""
    found: list[int] = []
    directories = [cgroup.path]
    while directories:
        directory = directories.pop()
        try:
            text = _read(directory / "cgroup.procs", 16 * limit + 16).decode(errors="replace")
            children = [entry for entry in os.scandir(directory) if entry.is_dir()]
        except OSError:
            continue  # the sub-cgroup went away meanwhile
        for word in text.split():
            if word.isdigit():
                found.append(int(word))
                if len(found) >= limit:
                    return found, True
        directories.extend(Path(child.path) for child in children[:limit])
    return found, False


def parse_stat(pid: int, text: str) -> ProcStat | None:
    """``/proc/<pid>/stat``: the name may hold spaces and ``)``, so split at the last ``)``."""
    start, end = text.find("("), text.rfind(")")
    fields = text[end + 2 :].split()
    if start < 0 or end < start or len(fields) < 13:
        return None
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        ppid = int(fields[1])
    except ValueError:
        return None
    return ProcStat(pid=pid, comm=text[start + 1 : end], ppid=ppid, cpu_s=ticks / CLOCK_TICKS)


def stat(pid: int) -> ProcStat | None:
    """A process's name, parent and CPU time; None when it has gone."""
    try:
        return parse_stat(pid, _read(f"/proc/{pid}/stat").decode(errors="replace"))
    except OSError:
        return None


def cmdline(pid: int) -> list[str]:
    """The first arguments of a process (empty when it has gone or is a kernel thread)."""
    try:
        raw = _read(f"/proc/{pid}/cmdline", CMDLINE_MAX)
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def in_container(pid: int, container_id: str) -> bool:
    """Whether ``pid`` still belongs to the container (PIDs are reused)."""
    try:
        return container_id in _read(f"/proc/{pid}/cgroup").decode(errors="replace")
    except OSError:
        return False


def kill_tree(pid: int, container_id: str, limit: int) -> int:
    """SIGKILL ``pid``, its process group and its descendants, only those in the container.

    dockerd starts an exec as a session (and group) leader, so the group takes children being
    forked right now along; the walk catches descendants that left the group. How many hit.
    """
    if not in_container(pid, container_id):
        return 0
    try:
        members, _ = pids(locate(pid, container_id), limit)
    except errors.AgentError:
        members = []
    parents = {s.pid: s.ppid for s in map(stat, members) if s is not None}
    doomed, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        frontier.extend(child for child in children if child not in doomed)
        doomed.update(children)
    alive = [target for target in sorted(doomed) if in_container(target, container_id)]
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    for target in alive:
        with contextlib.suppress(ProcessLookupError):  # the group signal got it
            os.kill(target, signal.SIGKILL)
    return len(alive)
