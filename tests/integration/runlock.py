"""Machine-wide locks for test runs that share real services (dockerd, network namespaces).

Two runs on one machine (a developer's and a helper's, or CI's) would otherwise sweep each
other's boxes and gateways as "leftovers". A run holds the lock for as long as it uses the
service; another run waits for it, then sweeps what a crashed holder left.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR = Path("/run/lock")


@contextmanager
def held(name: str, timeout_s: float) -> Iterator[None]:
    """Hold ``/run/lock/<name>.lock`` (waiting up to ``timeout_s``) for the ``with`` body."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = LOCK_DIR / f"{name}.lock"
    with path.open("wb") as lock:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path} is held by another test run") from None
                time.sleep(0.2)
        yield  # closing the file releases the flock
