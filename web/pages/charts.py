"""Small server-rendered SVG charts (no script, no library): the last hour of a host's use.

``line_chart`` draws values over a fixed time window as one ``<svg>`` element: a filled line,
the window's top value as a faint rule, and a ``<title>`` that says what it shows (read by
screen readers and shown on hover). Pure: the same input gives the same markup, and every
text is escaped. ``human_bytes`` and ``percent`` are the numbers shown beside the charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 240
HEIGHT = 48
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(value: float) -> str:
    """``1536`` → ``1.5 KiB``; one decimal below 10, none above."""
    size, unit = float(max(value, 0)), 0
    while size >= 1024 and unit < len(_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    if unit == 0:
        return f"{int(size)} B"
    return f"{size:.1f} {_UNITS[unit]}" if size < 10 else f"{size:.0f} {_UNITS[unit]}"


def percent(part: float, whole: float) -> str:
    """``part`` of ``whole`` as ``"42%"``; ``"-"`` when the whole is unknown."""
    if whole <= 0:
        return "-"
    return f"{100 * part / whole:.0f}%"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def line_chart(
    points: Sequence[tuple[dt.datetime, float]],
    *,
    end: dt.datetime,
    window: dt.timedelta = dt.timedelta(hours=1),
    top: float,
    label: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """An SVG of ``points`` (time, value) from ``end - window`` to ``end``, 0 to ``top`` high.

    Values above ``top`` are drawn at the top; points outside the window are left out. With no
    point in the window the chart is empty but keeps its size (a frame and the title).
    """
    start = end - window
    span = window.total_seconds() or 1.0
    ceiling = top if top > 0 else max((v for _, v in points), default=0.0) or 1.0
    coords = []
    for at, value in points:
        if not start <= at <= end:
            continue
        x = (at - start).total_seconds() / span * width
        y = height - min(max(value, 0.0), ceiling) / ceiling * height
        coords.append((x, y))
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(label)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="none" '
        'stroke="currentColor" stroke-opacity="0.2"/>',
    ]
    if coords:
        line = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
        first_x, last_x = _fmt(coords[0][0]), _fmt(coords[-1][0])
        area = f"{first_x},{height} {line} {last_x},{height}"
        parts.append(f'<polygon points="{area}" fill="currentColor" fill-opacity="0.15"/>')
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        )
        if len(coords) == 1:  # one sample: a dot, or nothing would show
            x, y = coords[0]
            parts.append(f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="2" fill="currentColor"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (numbers we format and an escaped title)
