"""Keep an ssh process (a port forward) up: when it ends, start it again after a backoff of
about 1, 2, 4, 8 s, then every 30 s; a run that lasted a while resets the backoff."""

from __future__ import annotations

import subprocess
import sys
import time

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 30.0)
#: A connection that stayed up this long counts as healthy: the next drop starts over at 1 s.
HEALTHY_S = 30.0


def reconnecting(argv: list[str], max_tries: int = 0) -> int:
    """Run ``argv`` until Ctrl-C (or ``max_tries`` starts; 0: no limit); its last status."""
    tries, step, status = 0, 0, 0
    while max_tries == 0 or tries < max_tries:
        tries += 1
        started = time.monotonic()
        try:
            status = subprocess.call(argv)
        except KeyboardInterrupt:
            return 130
        if time.monotonic() - started >= HEALTHY_S:
            step = 0
        wait = BACKOFF_S[min(step, len(BACKOFF_S) - 1)]
        step += 1
        if max_tries and tries >= max_tries:
            break
        print(
            f"cloud-claude: connection lost (ssh {status}); again in {wait:.0f} s", file=sys.stderr
        )
        try:
            time.sleep(wait)
        except KeyboardInterrupt:
            return 130
    return status
