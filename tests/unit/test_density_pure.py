"""How bench/density.py reads /proc and does its arithmetic on paper."""

from __future__ import annotations

from bench.density import boxes_per_server
from bench.proc_memory import Mem, cpu_percent, parse_meminfo, parse_smaps_rollup

SMAPS_ROLLUP = """\
00400000-7ffd3f5ff000 ---p 00000000 00:00 0                              [rollup]
Rss:               41520 kB
Pss:               9120 kB
Pss_Dirty:          6800 kB
Pss_Anon:           6700 kB
Pss_File:           2420 kB
Pss_Shmem:             0 kB
Shared_Clean:      33900 kB
Shared_Dirty:          0 kB
Private_Clean:       420 kB
Private_Dirty:      7200 kB
Referenced:        41520 kB
Anonymous:          7200 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""


def test_smaps_rollup_gives_rss_pss_and_private_memory() -> None:
    assert parse_smaps_rollup(SMAPS_ROLLUP) == Mem(rss_kb=41520, pss_kb=9120, uss_kb=7620)


def test_a_rollup_without_the_fields_is_nothing() -> None:
    # A kernel thread's rollup is empty; Pss_Dirty and friends must not be taken for Pss.
    assert parse_smaps_rollup("") == Mem()
    assert parse_smaps_rollup("Pss_Dirty: 5 kB\nPss_Anon: 3 kB\n") == Mem()


def test_memory_adds_up_field_by_field() -> None:
    assert Mem(1, 2, 3) + Mem(10, 20, 30) == Mem(11, 22, 33)


def test_meminfo_figure_by_exact_name() -> None:
    text = "MemTotal:       24000000 kB\nSlab:             512000 kB\nSReclaimable: 1 kB\n"
    assert parse_meminfo(text, "Slab") == 512000
    assert parse_meminfo(text, "Missing") == 0


def test_cpu_is_a_percentage_of_one_core() -> None:
    assert cpu_percent(0.3, 60.0) == 0.5
    assert cpu_percent(120.0, 60.0) == 200.0
    assert cpu_percent(1.0, 0.0) == 0.0


def test_boxes_per_server_keeps_the_reserve_and_rounds_down() -> None:
    assert boxes_per_server(10.0, 64.0, 4.0) == 6144
    assert boxes_per_server(100.0, 64.0, 4.0) == 614
    assert boxes_per_server(500.0, 4.0, 4.0) == 0
    assert boxes_per_server(0.0, 64.0, 4.0) == 0
