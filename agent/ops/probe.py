"""A running box's activity for the idle scanner, read from the host, never from inside the box.

The box's user is root in the box and could make anything it runs print anything, so nothing is
executed there. The kernel's counters are read instead (``agent.ops.cgroups``): the container's
CPU time from its cgroup, and the CPU time of Claude Code's processes (its PIDs from the cgroup,
their names and times from the host's ``/proc``). Naming a process ``claude`` does not help a
box fake use: only CPU it really burns moves the counters, and CPU a box burns counts as use.
"""

from __future__ import annotations

import attrs
import trio

from agent import logconfig
from agent.ops import cgroups
from agent.ops.containers import Containers
from agent.protocol import messages as m

log = logconfig.get("agent.probe")
#: Reads of cgroup and ``/proc`` files at once, for every box together.
_READERS = trio.CapacityLimiter(4)
_CLAUDE_NAMES = ("claude", "claude.exe")
_CLAUDE_PATHS = ("/claude", "/claude.exe", "/claude-code/cli.js", "/claude-code/cli.mjs")


def is_claude(comm: str, argv: list[str]) -> bool:
    """Claude Code: its native binary (``claude`` → ``claude.exe``) or ``node …/cli.js``."""
    if comm in _CLAUDE_NAMES:
        return True
    head = [arg for arg in argv[:2] if arg]
    return any(arg in _CLAUDE_NAMES or arg.endswith(_CLAUDE_PATHS) for arg in head)


def read_activity(pid: int, container_id: str, max_pids: int) -> m.ActivityReply:
    """Blocking: the counters of the container whose init is host PID ``pid``."""
    cgroup = cgroups.locate(pid, container_id)
    cpu_s = cgroups.cpu_seconds(cgroup)
    members, cut = cgroups.pids(cgroup, max_pids)
    if cut:
        log.warning("activity_pids_capped", container_id=container_id[:12], max_pids=max_pids)
    claude_cpu_s, claude_processes = 0.0, 0
    for member in members:
        proc = cgroups.stat(member)
        if proc is not None and is_claude(proc.comm, cgroups.cmdline(member)):
            claude_cpu_s += proc.cpu_s
            claude_processes += 1
    return m.ActivityReply(
        id=0,
        started_at="",
        cpu_s=round(cpu_s, 6),
        claude_cpu_s=round(claude_cpu_s, 6),
        claude_processes=claude_processes,
    )


async def activity(containers: Containers, host_id: str, max_pids: int) -> m.ActivityReply:
    info = await containers.require(host_id, running=True)
    state = info.get("State") or {}
    pid, container_id = int(state.get("Pid") or 0), str(info.get("Id", ""))
    reply = await trio.to_thread.run_sync(
        read_activity, pid, container_id, max_pids, limiter=_READERS
    )
    return attrs.evolve(reply, started_at=str(state.get("StartedAt", "")))
