"""Socket ÷ embedded: how the benchmarks that measure both agent modes order and compare them.

Kept free of heavy imports (no agent, no daemon), so its unit tests run anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

Mode = Literal["embedded", "socket"]
#: Every mode a benchmark measures, in the order its tables are printed.
MODES: tuple[Mode, Mode] = ("embedded", "socket")
#: What each mode is, as the tables head it.
TITLES: dict[Mode, str] = {
    "embedded": "embedded agent (in-process)",
    "socket": "socket agent (cloudclaude-agent process, Unix socket)",
}
T = TypeVar("T")


def ratio(socket: float, embedded: float) -> str:
    """``socket / embedded`` as ``1.04x``; ``n/a`` unless both figures are positive.

    Differences (what the proxy adds, what the gateway costs) can be zero or negative on a
    noisy machine, and a ratio of those would read as a factor it is not.
    """
    if embedded <= 0 or socket <= 0:
        return "n/a"
    return f"{socket / embedded:.2f}x"


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """``items`` started at position ``turn`` (modulo their number): sample ``turn``'s order.

    Taking one sample of each item per turn in this order puts each item in each position
    equally often, so a drift in the machine's load hits them all alike.
    """
    if not items:
        return []
    start = turn % len(items)
    return [*items[start:], *items[:start]]
