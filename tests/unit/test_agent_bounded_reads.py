"""Bounded reading of what dockerd and a box's processes hand the agent, and reading a
container's counters from the host: cgroup paths, CPU counters, ``/proc/<pid>/stat``."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import errors
from agent.ops import cgroups
from agent.ops.docker_reads import Demux, Head, Lines, Tail, read_capped
from agent.ops.probe import is_claude

CID = "3f" * 32
V1_MOUNTS = """\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
32 25 0:28 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
40 25 0:35 / /sys/fs/cgroup/unified rw,relatime shared:12 - cgroup2 cgroup2 rw
"""
V2_MOUNTS = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_v1_uses_the_cpuacct_hierarchy_even_on_a_hybrid_host() -> None:
    proc = f"4:memory:/docker/{CID}\n2:cpuacct:/docker/{CID}\n1:cpu:/docker/{CID}\n0::/\n"
    found = cgroups.resolve(proc, V1_MOUNTS, CID)
    assert found == cgroups.Cgroup(version=1, path=Path(f"/sys/fs/cgroup/cpuacct/docker/{CID}"))
    assert found.cpu_file.name == "cpuacct.usage"


def test_v2_and_the_systemd_driver() -> None:
    proc = f"0::/system.slice/docker-{CID}.scope\n"
    found = cgroups.resolve(proc, V2_MOUNTS, CID)
    assert found.path == Path(f"/sys/fs/cgroup/system.slice/docker-{CID}.scope")
    assert found.cpu_file.name == "cpu.stat"


def test_a_cgroup_that_is_not_the_containers_is_refused() -> None:
    for proc in ("2:cpuacct:/\n", f"2:cpuacct:/docker/{'ab' * 32}\n", "2:cpuacct:/docker/../x\n"):
        with pytest.raises(errors.AgentError) as refused:
            cgroups.resolve(proc, V1_MOUNTS, CID)
        assert refused.value.code == errors.ACTIVITY_UNREADABLE


def test_cpu_counters_of_both_versions() -> None:
    assert cgroups.parse_cpu(1, "2500000000\n") == 2.5
    assert cgroups.parse_cpu(2, "usage_usec 1500000\nuser_usec 1000000\n") == 1.5
    for version, text in ((1, "lots"), (2, "user_usec 5\n")):
        with pytest.raises(errors.AgentError) as bad:
            cgroups.parse_cpu(version, text)
        assert bad.value.code == errors.ACTIVITY_UNREADABLE


def test_a_process_name_with_spaces_and_parentheses_is_read_whole() -> None:
    fields = " ".join(["S", "41"] + ["0"] * 9 + [str(3 * cgroups.CLOCK_TICKS), "100"] + ["0"] * 7)
    stat = cgroups.parse_stat(42, f"42 (my (claude) x) {fields}")
    assert stat == cgroups.ProcStat(
        pid=42, comm="my (claude) x", ppid=41, cpu_s=3 + 100 / cgroups.CLOCK_TICKS
    )
    assert cgroups.parse_stat(42, "42 (cut") is None


def test_claude_code_is_known_by_name_or_command_line() -> None:
    assert is_claude("claude", [])
    assert is_claude(
        "claude.exe", ["/usr/local/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe"]
    )
    assert is_claude("node", ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"])
    assert not is_claude("bash", ["bash", "-c", "claude"])
    assert not is_claude("node", ["node", "server.js", "/claude"])


async def test_a_body_over_its_cap_fails_with_a_code() -> None:
    assert await read_capped(chunks(b"ab", b"cd"), 4, "/x") == b"abcd"
    with pytest.raises(errors.AgentError) as big:
        await read_capped(chunks(b"ab", b"cde"), 4, "/x")
    assert big.value.code == errors.DOCKER_REPLY_TOO_LARGE


def test_progress_lines_are_split_across_chunks_and_capped() -> None:
    lines = Lines(8, "/build")
    assert lines.feed(b'{"a"') == []
    assert lines.feed(b':1}\n{"b":') == [b'{"a":1}']
    assert lines.finish() == [b'{"b":']
    with pytest.raises(errors.AgentError) as long:
        Lines(8, "/build").feed(b"x" * 9)
    assert long.value.code == errors.DOCKER_REPLY_TOO_LARGE


def test_demux_across_chunk_boundaries_keeps_head_or_tail() -> None:
    data = frame(1, b"0123456789") + frame(2, b"err") + frame(1, b"abcdef")
    head = Demux(Head(4), Head(4))
    tail = Demux(Tail(4), Tail(4))
    for demux in (head, tail):
        for at in range(0, len(data), 3):  # headers and payloads split anywhere
            demux.feed(data[at : at + 3])
        assert demux.total == 19
    assert (head.out.value(), head.err.value(), head.out.cut) == (b"0123", b"err", True)
    assert (tail.out.value(), tail.err.value(), tail.err.cut) == (b"cdef", b"err", False)


def test_a_tail_keeps_memory_bounded_while_counting_everything() -> None:
    tail = Tail(1000)
    for _ in range(10_000):
        tail.add(b"y\n" * 100)
    assert tail.seen == 2_000_000 and tail.value() == b"y\n" * 500
    assert len(tail._data) <= 2000
