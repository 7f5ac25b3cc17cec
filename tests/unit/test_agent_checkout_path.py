"""Which paths a checkout may be mounted at in a box, by name (``agent.ops.checkout_path``)."""

from __future__ import annotations

import pytest

from agent import errors
from agent.ops.checkout_path import MAX_DEPTH, MAX_PATH, check_mount_path

ALLOWED = [
    "/home/alice/src/proj",
    "/home/claude/work/proj",
    "/Users/bob/code/app",
    "/src/thing",
    "/home/alice",
    "/workspace",
    "/home/élise/dépôt",
    "/varnish/x",
    "/etcetera",
    "/home/" + "d/" * (MAX_DEPTH - 2) + "x",
]

REFUSED = {
    "relative": "home/alice/proj",
    "empty": "",
    "dot-dot": "/home/alice/../claude",
    "dot": "/home/./alice",
    "double slash": "/home//alice",
    "trailing slash": "/home/alice/",
    "root": "/",
    "nul": "/home/a\0b",
    "newline": "/home/a\nb",
    "etc": "/etc",
    "under etc": "/etc/cron.d",
    "proc": "/proc/1/root",
    "sys": "/sys/fs",
    "dev": "/dev/shm/x",
    "usr": "/usr/local/src",
    "lib64": "/lib64/x",
    "var": "/var/lib/x",
    "tmp": "/tmp/x",
    "run": "/run/x",
    "root's home": "/root/x",
    "the box user's home": "/home/claude",
    "home": "/home",
    "Users": "/Users",
    "too deep": "/home/" + "d/" * MAX_DEPTH + "x",
    "too long": "/home/" + "a" * MAX_PATH,
    "surrogate": "/home/\udc80",
}


@pytest.mark.parametrize("path", ALLOWED)
def test_plain_directories_are_allowed(path: str) -> None:
    assert check_mount_path(path) == path


@pytest.mark.parametrize("path", REFUSED.values(), ids=list(REFUSED))
def test_hostile_or_system_paths_are_refused_with_their_code(path: str) -> None:
    with pytest.raises(errors.AgentError) as refused:
        check_mount_path(path)
    assert refused.value.code == errors.MOUNT_PATH_REFUSED
