"""A gateway's network namespace, owned by a user namespace of its own (DESIGN.md section 7).

Capabilities count per user namespace. CAP_NET_ADMIN held in the host's reaches every network
namespace the host's user namespace owns, the host's netns included: a process confined to a
gateway could push a link into PID 1's netns. So each gateway netns is made inside a fresh user
namespace that maps only its sing-box's id; sing-box holds its capability there
(``confine.py``), where it covers that one netns. The agent, root in the parent user namespace
that owns the new one, still manages everything in it.

``unshare`` makes both namespaces around a placeholder process; the agent writes the id maps
and names the netns with ``ip netns attach`` (a bind mount under /run/netns); the placeholder
then goes. The netns keeps its user namespace alive until the netns is removed.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from agent.errors import AgentError

SETUP_FAILED = "NET_003"
#: How long ``unshare`` may take to make the namespaces, and ``ip netns attach`` to name one.
WAIT_S = 5.0


def create(name: str, ident: int) -> None:
    """Make netns ``name`` in a new user namespace mapping only uid and gid ``ident``."""
    try:
        holder = subprocess.Popen(
            ["unshare", "--user", "--net", "--", "sleep", str(int(WAIT_S * 4))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise AgentError(SETUP_FAILED, f"cannot make the namespaces of {name}: {exc}") from exc
    try:
        _wait_unshared(holder, name)
        for table in ("uid_map", "gid_map"):
            Path(f"/proc/{holder.pid}/{table}").write_text(f"{ident} {ident} 1\n")
        attach = ["ip", "netns", "attach", name, str(holder.pid)]
        done = subprocess.run(attach, capture_output=True, text=True, check=False, timeout=WAIT_S)
        if done.returncode != 0:
            raise AgentError(SETUP_FAILED, f"ip netns attach {name}: {done.stderr.strip()[:300]}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentError(SETUP_FAILED, f"cannot make the namespaces of {name}: {exc}") from exc
    finally:
        holder.kill()
        holder.wait()


def _wait_unshared(holder: subprocess.Popen[bytes], name: str) -> None:
    """``unshare`` has made its namespaces (the placeholder's netns is no longer ours)."""
    own = os.stat("/proc/self/ns/net").st_ino
    deadline = time.monotonic() + WAIT_S
    while holder.poll() is None and time.monotonic() < deadline:
        try:
            if os.stat(f"/proc/{holder.pid}/ns/net").st_ino != own:
                return
        except FileNotFoundError:
            break
        time.sleep(0.005)
    raise AgentError(SETUP_FAILED, f"unshare made no namespaces for {name}")
