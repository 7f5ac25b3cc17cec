"""The chaos campaign in the suite: 10 faults (daemon, agent, Postgres, dockerd killed with -9).

``bench/chaos.py`` with a small plan: 16 host tasks over 3 hosts through the real daemon
process and a real ``cloudclaude-agent``, its own Postgres cluster and its own private dockerd
(the campaign kills both; the shared dockerd is never touched, only read to copy the run's box
image from), and the run's simulated internet. After the reconciler ran, nothing may be lost, stuck,
orphaned or out of its desired state (``failed`` with a code counts as settled). The seed is
fixed, so the plan (hosts, actions, where each fault falls and what it kills) is the same on
every run; the timing of the faults against the work is not, which is the point.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos import TARGETS, campaign, plan_faults, report
from bench.chaos_dockerd import PrivateDockerd
from tests.integration import pg
from tests.integration.netsim import SimInternet

SEED = 19
TASKS = 16
HOSTS = 3
FAULTS = 10


@pytest.fixture
def chaos_root() -> Iterator[Path]:
    path = pg.scratch_dir("cc-chaos-")
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_the_plan_kills_every_target() -> None:
    faults = plan_faults(random.Random(SEED), TASKS, FAULTS)
    assert len(faults) == FAULTS
    assert {fault.target for fault in faults} == set(TARGETS)


def test_chaos_campaign_leaves_nothing_behind(
    chaos_root: Path, box_image: str, sim_internet: SimInternet
) -> None:
    del box_image  # built in the shared dockerd; the campaign copies it into its own
    result = campaign(chaos_root, sim_internet, seed=SEED, tasks=TASKS, hosts=HOSTS, faults=FAULTS)
    report(result, SEED)
    assert len(result.faults) == FAULTS
    assert result.tasks >= TASKS - result.refused
    assert result.lost == []
    assert result.stuck == []
    assert result.hosts_wrong == []
    assert result.volumes_lost == []
    assert result.orphans is not None
    assert result.orphans.counts() == dict.fromkeys(result.orphans.counts(), 0)


def test_the_private_dockerd_leaves_the_shared_dockers_bridge_alone() -> None:
    """Started, killed, restarted and closed, the campaign's dockerd must not take ``docker0``
    with it (``--bridge=none`` does): the shared dockerd's builds attach to it."""
    assert _link_exists("docker0"), "the shared dockerd has no docker0 here to protect"
    dockerd = PrivateDockerd()
    try:
        dockerd.start()
        assert _link_exists(dockerd.bridge)
        dockerd.kill()
        dockerd.start()
        assert _link_exists("docker0")
    finally:
        dockerd.close()
    assert _link_exists("docker0")
    assert not _link_exists(dockerd.bridge)


def _link_exists(name: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", name], capture_output=True, check=False)
    return shown.returncode == 0
