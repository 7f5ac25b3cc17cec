"""Looking inside a running box for the idle scanner: tmux input and Claude Code's CPU.

One ``docker exec`` of a fixed script (argv, no caller text in it) as the box user reads the
newest ``client_activity`` of the tmux server and sums the CPU time of processes named
``claude`` from ``/proc``. Both are plain numbers; the daemon compares them between looks.
"""

from __future__ import annotations

from agent import errors
from agent.ops.containers import BOX_USER, Containers
from agent.ops.names import container_name
from agent.protocol import messages as m

_SCRIPT = r"""
tmux list-clients -F '#{client_activity}' 2>/dev/null | sort -n | tail -1 | sed 's/^/tmux=/'
echo "clients=$(tmux list-clients 2>/dev/null | wc -l)"
ticks=0
for stat in /proc/[0-9]*/stat; do
    read -r line < "$stat" 2>/dev/null || continue
    case "$line" in
        *" (claude) "*)
            rest=${line#*) }
            set -- $rest
            ticks=$((ticks + ${12} + ${13}))
            ;;
    esac
done
echo "ticks=$ticks hz=$(getconf CLK_TCK)"
"""


def parse(output: str) -> tuple[float, int, float]:
    """``(tmux activity epoch, tmux clients, claude CPU seconds)`` from the script's output."""
    values: dict[str, str] = {}
    for word in output.split():
        key, _, value = word.partition("=")
        values[key] = value
    try:
        tmux = float(values.get("tmux") or 0)
        clients = int(values.get("clients") or 0)
        cpu = int(values.get("ticks") or 0) / max(int(values.get("hz") or 100), 1)
    except ValueError as exc:
        raise errors.AgentError(
            errors.INTERNAL_ERROR, f"unreadable probe output: {output!r}"
        ) from exc
    return tmux, clients, cpu


async def activity(containers: Containers, host_id: str) -> m.ActivityReply:
    await containers.require(host_id, running=True)
    result = await containers.docker.exec(
        container_name(host_id), ["sh", "-c", _SCRIPT], user=BOX_USER
    )
    tmux, clients, cpu = parse(result.stdout.decode(errors="replace"))
    return m.ActivityReply(id=0, tmux_activity_at=tmux, tmux_clients=clients, claude_cpu_s=cpu)
