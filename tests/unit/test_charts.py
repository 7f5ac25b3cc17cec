"""The SVG charts and the numbers beside them: pure, escaped, bounded to their window."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from web.pages.charts import human_bytes, line_chart, percent

END = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
SVG = "{http://www.w3.org/2000/svg}"


def ago(minutes: float) -> dt.datetime:
    return END - dt.timedelta(minutes=minutes)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (markup this module made, not untrusted input)


def points_of(svg: str) -> list[tuple[float, float]]:
    line = parse(svg).find(f"{SVG}polyline")
    assert line is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]


def test_a_chart_is_one_well_formed_svg_with_its_title() -> None:
    svg = line_chart([(ago(30), 1.0)], end=END, top=2.0, label="CPU")
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.attrib["role"] == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "CPU"


def test_points_span_the_window_left_to_right_and_bottom_up() -> None:
    svg = line_chart(
        [(ago(60), 0.0), (ago(30), 1.0), (END, 2.0)], end=END, top=2.0, label="x", width=100
    )
    assert points_of(svg) == [(0.0, 48.0), (50.0, 24.0), (100.0, 0.0)]


def test_points_outside_the_window_are_left_out_and_values_clamped() -> None:
    svg = line_chart(
        [(ago(90), 1.0), (ago(30), 5.0), (ago(15), -1.0)], end=END, top=2.0, label="x", width=120
    )
    assert points_of(svg) == [(60.0, 0.0), (90.0, 48.0)]


def test_no_points_still_draws_the_frame() -> None:
    svg = line_chart([], end=END, top=1.0, label="Memory")
    root = parse(svg)
    assert root.find(f"{SVG}polyline") is None and root.find(f"{SVG}rect") is not None


def test_one_point_shows_as_a_dot() -> None:
    root = parse(line_chart([(ago(1), 1.0)], end=END, top=2.0, label="x"))
    assert root.find(f"{SVG}circle") is not None


def test_the_label_is_escaped() -> None:
    svg = line_chart([], end=END, top=1.0, label='<script>alert("x")</script>')
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_a_zero_top_scales_to_the_largest_value() -> None:
    svg = line_chart([(ago(10), 4.0), (ago(5), 2.0)], end=END, top=0, label="x")
    assert [y for _, y in points_of(svg)] == [0.0, 24.0]


def test_coordinates_are_short_decimals() -> None:
    svg = line_chart([(ago(20), 1 / 3), (ago(10), 2 / 3)], end=END, top=1.0, label="x")
    line = parse(svg).find(f"{SVG}polyline")
    assert line is not None
    assert not re.search(r"\d\.\d{2,}", line.attrib["points"])


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(300 * 1024 * 1024) == "300 MiB"
    assert human_bytes(4 * 1024**3) == "4.0 GiB"


def test_percent_of_an_unknown_whole() -> None:
    assert percent(1, 4) == "25%"
    assert percent(1, 0) == "-"
