"""The pure side of a healing session: the backoff after a drop, the keys kept while the
connection is down, and when the status line shows what. The time is an argument everywhere,
so tests bring their own clock; ``heal`` does the I/O."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from cloudclaude.client.explain import lookup
from cloudclaude.client.reconnect import BACKOFF_S

#: A drop shorter than this shows nothing: tmux's redraw after the re-attach is all one sees.
SHOW_AFTER_S = 1.5
#: What may be typed while the connection is down; more is refused, and the user told.
TYPED_LIMIT = 64 * 1024
#: How long after a drop to keep trying; the environment variable overrides it (tests).
LIMIT_S = 600.0
LIMIT_ENV = "CLOUD_CLAUDE_RECONNECT_LIMIT_S"


def reconnect_limit(env: Mapping[str, str] = os.environ) -> float:
    """Seconds to keep trying after a drop: ``CLOUD_CLAUDE_RECONNECT_LIMIT_S``, else 600."""
    try:
        value = float(env.get(LIMIT_ENV, "") or LIMIT_S)
    except ValueError:
        return LIMIT_S
    return value if value >= 0 and math.isfinite(value) else LIMIT_S


def backoff(failures: int) -> float:
    """The wait before the next try: 1, 2, 4, 8 s, then every 30 s."""
    return BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]


class TypedAhead:
    """Keys typed while the connection is down, at most ``limit`` bytes. A chunk that does not
    fit is refused whole (half a paste is worse than none) and counted, to tell the user."""

    def __init__(self, limit: int = TYPED_LIMIT) -> None:
        self.limit = limit
        self.refused = 0
        self._data = bytearray()

    def __len__(self) -> int:
        return len(self._data)

    def add(self, data: bytes) -> bool:
        if len(self._data) + len(data) > self.limit:
            self.refused += len(data)
            return False
        self._data += data
        return True

    def take(self) -> bytes:
        """Everything kept, to send; the buffer starts over empty."""
        data = bytes(self._data)
        self._data.clear()
        self.refused = 0
        return data


class Outage:
    """One drop, from when it was noticed until the pane is back or the limit is reached: when
    to try next (1, 2, 4, 8, then every 30 s after each failed try) and what the status says."""

    def __init__(self, since: float, limit_s: float) -> None:
        self.since = since
        self.limit_s = limit_s
        self.failures = 0
        self.attempting = False
        self.last_error = ""
        self.next_try = since + min(backoff(0), limit_s)

    def due(self, now: float) -> bool:
        return not self.attempting and now >= self.next_try

    def retry_now(self, now: float) -> None:
        """Enter: try at once instead of at the end of the backoff."""
        self.next_try = min(self.next_try, now)

    def start(self) -> None:
        self.attempting = True

    def failed(self, now: float, error: str = "") -> bool:
        """A try failed: schedule the next one; False when the limit is reached (give up)."""
        self.attempting = False
        self.failures += 1
        self.last_error = error or self.last_error
        if now - self.since >= self.limit_s:
            return False
        self.next_try = min(now + backoff(self.failures), self.since + self.limit_s)
        return True

    def status(self, now: float, typed: TypedAhead) -> tuple[str, str] | None:
        """(text, state) of the status line, the state without counters (for a log); None
        while the drop is too short to notice, unless keys were refused (said at once).
        Short enough for 80 columns: what happens, then the typed keys, then the keys' help."""
        if now - self.since < SHOW_AFTER_S and not typed.refused:
            return None
        if self.attempting:
            state = "cloud-claude: connection lost; reconnecting"
            parts, keys = [state + "..."], "(Ctrl-C: quit)"
        else:
            state = "cloud-claude: connection lost; waiting to retry"
            wait = math.ceil(max(self.next_try - now, 0.0))
            parts, keys = (
                ["cloud-claude: connection lost", f"retry in {wait} s"],
                "(Enter: now, Ctrl-C: quit)",
            )
        if typed.refused:
            parts.append(f"keys refused: buffer full ({typed.limit // 1024} KiB)")
        elif len(typed):
            parts.append(f"{size(len(typed))} typed")
        text = "; ".join(parts)
        return (text if typed.refused else f"{text} {keys}"), state

    def wake_in(self, now: float) -> float:
        """Seconds until something is due: the status line's first showing, the next try, the
        countdown's next step (while a try runs nothing is: then once a second)."""
        moments = []
        if now < self.since + SHOW_AFTER_S:
            moments.append(self.since + SHOW_AFTER_S - now)
        if not self.attempting:
            left = self.next_try - now
            moments += [max(left, 0.0), left % 1.0 or 1.0] if left > 0 else [0.0]
        return min(moments, default=1.0)


def size(count: int) -> str:
    """A byte count for the status line."""
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"


def give_up_text(outage: Outage, now: float, unsent: int) -> str:
    """The registry's NET_018, as the CLI prints any coded error."""
    row = lookup("NET_018") or {}
    lines = [
        f"cloud-claude: NET_018 {row.get('message', 'The connection was lost.')}"
        f" (gave up after {now - outage.since:.0f} s"
        + (f"; last: {outage.last_error})" if outage.last_error else ")")
    ]
    if row.get("fix"):
        lines.append(f"  fix: {row['fix']}")
    if unsent:
        lines.append(f"  {unsent} typed bytes were not sent")
    return "\n".join(lines)
