"""A server-rendered SVG bar chart of daily tokens, one colour per user, stacked (no script, no
library, no CDN), in the style of ``web.pages.charts``.

Pure: the same input gives the same markup, and every text is escaped. Each bar segment has a
``<title>`` (who, which day, how many tokens), read by screen readers and shown on hover; the
legend is HTML beside the chart (``Series``), so it wraps on a narrow screen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs
from markupsafe import Markup, escape

from cloudclaude.model.credentials import DailyUserTokens

WIDTH = 720
HEIGHT = 200
#: The most days one chart draws (the newest ones).
MAX_DAYS = 92
#: Distinct colours that read on white and stay apart for the usual colour-vision deficiencies.
PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)
OTHERS = "others"


@attrs.frozen(kw_only=True)
class Series:
    """One user's colour and total in the chart (the legend's rows)."""

    username: str
    colour: str
    tokens: int


def short_tokens(value: int) -> str:
    """``1234567`` → ``1.2M``; ``950`` → ``950``."""
    for size, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            scaled = value / size
            return f"{scaled:.1f}{unit}" if scaled < 10 else f"{scaled:.0f}{unit}"
    return str(value)


def series_of(points: Sequence[DailyUserTokens]) -> list[Series]:
    """The users by tokens (most first), the ones past the palette's size as ``others``."""
    totals: dict[str, int] = {}
    for point in points:
        totals[point.username] = totals.get(point.username, 0) + point.tokens
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked[: len(PALETTE) - 1] if len(ranked) > len(PALETTE) else ranked
    out = [Series(username=n, colour=PALETTE[i], tokens=t) for i, (n, t) in enumerate(shown)]
    rest = sum(t for _, t in ranked[len(shown) :])
    if len(ranked) > len(shown):
        out.append(Series(username=OTHERS, colour=PALETTE[-1], tokens=rest))
    return out


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    count = min((end - start).days + 1, MAX_DAYS)
    first = end - dt.timedelta(days=count - 1)
    return [first + dt.timedelta(days=i) for i in range(max(count, 0))]


def daily_bars(
    points: Sequence[DailyUserTokens],
    *,
    start: dt.date,
    end: dt.date,
    label: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> tuple[Markup, list[Series]]:
    """The chart of ``points`` from ``start`` to ``end`` (at most ``MAX_DAYS``, the newest),
    and its legend. A day without tokens has no bar; the chart keeps its size when empty."""
    days = _days(start, end)
    series = series_of(points)
    colour = {s.username: s.colour for s in series}
    stacks: dict[dt.date, dict[str, int]] = {day: {} for day in days}
    for point in points:
        if point.day in stacks:
            name = point.username if point.username in colour else OTHERS
            stacks[point.day][name] = stacks[point.day].get(name, 0) + point.tokens
    top = max((sum(stack.values()) for stack in stacks.values()), default=0) or 1
    axis = 16  # room for the day labels under the bars
    plot = height - axis
    slot = width / max(len(days), 1)
    bar = max(slot * 0.8, 1.0)
    parts = [
        f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" style="width:100%">',
        f"<title>{escape(label)}</title>",
        f'<line x1="0" y1="{plot}" x2="{width}" y2="{plot}" stroke="currentColor" '
        'stroke-opacity="0.3"/>',
        f'<text x="2" y="11" font-size="11" fill="currentColor" fill-opacity="0.7">'
        f"{escape(short_tokens(top))}</text>",
    ]
    for index, day in enumerate(days):
        x = index * slot + (slot - bar) / 2
        y = float(plot)
        for s in series:
            tokens = stacks[day].get(s.username, 0)
            if tokens <= 0:
                continue
            h = tokens / top * (plot - 14)
            y -= h
            tip = f"{s.username}, {day.isoformat()}: {tokens:,} tokens"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(tip)}</title></rect>'
            )
    if days:
        parts.append(
            f'<text x="0" y="{height - 3}" font-size="11" fill="currentColor" '
            f'fill-opacity="0.7">{days[0].isoformat()}</text>'
        )
        parts.append(
            f'<text x="{width}" y="{height - 3}" font-size="11" text-anchor="end" '
            f'fill="currentColor" fill-opacity="0.7">{days[-1].isoformat()}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts)), series  # noqa: S704 (numbers we format, escaped texts)
