"""How the benchmarks that measure both agent modes compare them and order their samples."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.ratios import MODES, ratio, rotated


def test_a_ratio_is_socket_over_embedded_with_two_decimals() -> None:
    assert ratio(0.5, 0.4) == "1.25x"
    assert ratio(0.4, 0.5) == "0.80x"
    assert ratio(1.0, 1.0) == "1.00x"


@pytest.mark.parametrize(("socket", "embedded"), [(1.0, 0.0), (1.0, -0.2), (-0.1, 0.3), (0, 1)])
def test_a_figure_that_is_not_positive_makes_no_ratio(socket: float, embedded: float) -> None:
    # A difference (what the proxy adds) can come out zero or negative on a noisy machine.
    assert ratio(socket, embedded) == "n/a"


def test_the_modes_take_turns_going_first() -> None:
    assert [rotated(MODES, turn)[0] for turn in range(4)] == [
        "embedded",
        "socket",
        "embedded",
        "socket",
    ]


def test_over_a_full_cycle_each_item_takes_each_position_once() -> None:
    items = ["a", "b", "c", "d"]
    orders = [rotated(items, turn) for turn in range(len(items))]
    assert all(sorted(order) == items for order in orders)
    for position in range(len(items)):
        assert Counter(order[position] for order in orders) == Counter(items)


def test_rotating_nothing_gives_nothing() -> None:
    assert rotated([], 3) == []
