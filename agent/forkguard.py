"""Forked copies of the agent die with it.

pyroute2 forks the agent (a plain ``fork``, no exec) for every operation in another network
namespace; the child holds a copy of every descriptor the agent has open, the daemon's
connections included. Such a child, stuck or still busy when the agent is killed, would keep
those connections open: the daemon would never see the end of its request and wait for a reply
that cannot come. After ``install()`` each fork child asks the kernel for SIGKILL when the agent
goes (``PR_SET_PDEATHSIG``), and exits at once if the agent went before it asked.

Only Python-level forks run the hook: ``subprocess`` children (sing-box, nft, ip) do not, so
sing-box still outlives an agent restart.
"""

from __future__ import annotations

import ctypes
import os
import signal

#: The kernel sends the signal when the thread that forked ends (not only the process); pyroute2
#: forks, waits and reaps its short-lived child in one call of one thread, so that comes later.
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_parent = 0
_installed = False


def _before() -> None:
    global _parent
    _parent = os.getpid()


def _in_child() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != _parent:  # the agent died between fork and prctl
        os._exit(1)


def install() -> None:
    """Once per process; later calls do nothing."""
    global _installed
    if not _installed:
        os.register_at_fork(before=_before, after_in_child=_in_child)
        _installed = True
