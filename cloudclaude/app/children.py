"""Child processes ``cloudclaude up`` supervises: started in their own session, stopped in order.

Each child gets its own session, so a Ctrl-C in the terminal reaches only ``up``, which then
stops the children in the order that loses nothing: the daemon (it drains), the agent, Postgres.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

import attrs


@attrs.define
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    #: ``(uid, gid, supplementary gids)`` to run as; None keeps this process's (root).
    user: tuple[int, int, tuple[int, ...]] | None = None
    cwd: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        uid, gid, groups = self.user if self.user is not None else (None, None, None)
        self.proc = subprocess.Popen(
            list(self.argv),
            env=dict(self.env),
            cwd=self.cwd,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=gid,
            extra_groups=list(groups) if groups is not None else None,
        )

    def exited(self) -> int | None:
        """The exit status once the child ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace_s: float) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                print(f"{self.name} did not stop in {grace_s:.0f} s; killing it", file=sys.stderr)
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode
