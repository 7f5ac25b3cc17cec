"""Checkout mount: ``git status`` and reading every file in a box, over the mount and on disk.

``python -m bench.mount [--files 1000] [--repeat 5] [--agent embedded|socket]`` makes a git
checkout of FILES small files in a scratch directory (the "laptop"), starts one box through an
agent (``bench.agents``) and mounts the checkout into it as ``cloud-claude`` does: our SFTP
server (``cloudclaude.client.sftp_server.serve``) in a thread on one end of a socket pair, the
agent's passive sshfs on the other. The baseline is a copy of it on the box's own disk (its
home). Each repetition, for both places (the order flipped every repetition, so machine noise
hits both alike), it times inside the box, as the box user:

- ``git status``, first: with the index as the laptop wrote it, whose stat data are not what
  the box sees (owner, inode, ctime), so git rereads every file and rewrites the index, as at
  the first status after mounting; over the mount each repetition mounts anew, so sshfs's and
  the kernel's caches start empty;
- ``git status``, again: the index now fresh, a stat per file;
- reading every file of the working tree (``find | xargs sha256sum``), each checked against the
  laptop's content, as is each status against the laptop's own ``git status``.

It prints medians in seconds and mount ÷ disk; it asserts nothing about time. The box, the
mount, the server threads and the scratch directories go in ``finally``, also on Ctrl-C. No
gateway: nothing here leaves the box, so the box starts without egress (as in the agent's
checkout-mount tests), and no test run's lock is needed (its own instance, no gateway).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, cast

import attrs
import trio

from agent.protocol import messages as m
from bench.agents import agent_settings, agent_state_dirs, open_bench_agent
from bench.api import interruptible, main_for
from bench.box_start import banner
from bench.ratios import Mode, ratio, rotated
from cloudclaude.agent_client.handle import Agent
from cloudclaude.client.sftp_server import serve
from cloudclaude.core.logging import configure
from cloudclaude.core.settings import Settings
from tests.integration.box_exec import exec_in_host

Place = Literal["mount", "disk"]
Step = Literal["first", "again", "read"]
PLACES: tuple[Place, Place] = ("mount", "disk")
STEPS: tuple[Step, ...] = ("first", "again", "read")
LABELS: dict[Step, str] = {
    "first": "git status, first (the laptop's index)",
    "again": "git status, again (index fresh)",
    "read": "read every file (find | xargs sha256sum)",
}
BOX_USER = "claude"
WORK = "/home/claude/src"
PATHS: dict[Place, str] = {"mount": f"{WORK}/mounted", "disk": f"{WORK}/ondisk"}
#: The laptop's index, kept in the box to put back on the disk copy before each first status.
SAVED_INDEX = f"{WORK}/index.laptop"
STATUS = ["git", "status", "--porcelain"]
READ = [
    "sh",
    "-c",
    "find . -type f ! -path './.git/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum",
]
#: Times a command inside the box (docker exec's own cost stays out of the figure).
TIMER = (
    "import subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[2:], cwd=sys.argv[1], capture_output=True)\n"
    "d = time.perf_counter() - t\n"
    "sys.stderr.write(p.stderr.decode(errors='replace'))\n"
    "sys.stdout.write(f'{p.returncode} {d:.6f}\\n' + p.stdout.decode(errors='replace'))\n"
)
#: The laptop's git without the machine's own configuration, so every run makes the same tree.
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
JOIN_S = 10.0


def git(cwd: Path, *args: str) -> str:
    argv = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
    done = subprocess.run(
        argv, cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


@attrs.frozen
class Laptop:
    """The checkout served to the box, and what the box must see of it."""

    root: Path
    index: bytes  # .git/index as the laptop left it
    hashes: dict[str, str]  # "./path" -> sha256 of every working-tree file
    status: list[str]  # the laptop's own ``git status --porcelain``


def file_text(rng: random.Random, number: int) -> str:
    lines = [f"# file {number}"]
    lines += [f"value_{j} = {rng.randrange(10**9)}  # {rng.random():.6f}" for j in range(60)]
    return "\n".join(lines[: rng.randint(3, 60)]) + "\n"


def make_checkout(root: Path, files: int) -> Laptop:
    """A repository of ``files`` working-tree files in nested directories: some committed and
    changed since, a few untracked, so ``git status`` has something to say."""
    rng = random.Random(17)
    changes = max(1, files // 100)
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    paths = [Path(f"pkg{i % 5}/mod{(i // 5) % 10}/file{i:05d}.txt") for i in range(files)]
    for number, path in enumerate(paths):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(file_text(rng, number))
    committed = paths[: files - changes]  # the rest stays untracked
    for start in range(0, len(committed), 200):
        git(root, "add", "--", *(str(path) for path in committed[start : start + 200]))
    git(root, "commit", "-q", "-m", "the checkout")
    for path in committed[:: max(1, len(committed) // changes)][:changes]:
        with (root / path).open("a") as changed:
            changed.write("# changed on the laptop\n")
    status = git(root, "status", "--porcelain").splitlines()
    return Laptop(root, (root / ".git/index").read_bytes(), tree_hashes(root), status)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of each working-tree file by its ``find`` path (``./...``), ``.git`` left out."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and relative.parts[0] != ".git":
            found[f"./{relative}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@attrs.frozen
class Results:
    files: int
    repeat: int
    samples: dict[Place, dict[Step, list[float]]]
    seen: dict[Place, dict[str, str]]  # the last read in each place: "./path" -> sha256
    status: dict[Place, list[str]]  # the last ``git status --porcelain`` in each place


async def in_box(host_id: str, script: str) -> str:
    done = await exec_in_host(host_id, ["sh", "-c", script], user=BOX_USER)
    if done.exit_code != 0:
        raise RuntimeError(f"in the box: {script!r}: {done.exit_code} {done.stderr.strip()}")
    return done.stdout


async def timed(host_id: str, cwd: str, argv: list[str]) -> tuple[float, str]:
    """Seconds ``argv`` takes in ``cwd`` in the box, and its output; failing loudly."""
    done = await exec_in_host(host_id, ["python3", "-c", TIMER, cwd, *argv], user=BOX_USER)
    first, _, output = done.stdout.partition("\n")
    code, _, seconds = first.partition(" ")
    if done.exit_code != 0 or code != "0":
        raise RuntimeError(f"{argv} in {cwd}: {first or done.exit_code}: {done.stderr.strip()}")
    return float(seconds), output


@contextlib.asynccontextmanager
async def mounted(agent: Agent, host_id: str, laptop: Laptop) -> AsyncIterator[int]:
    """The checkout mounted afresh, its index put back as the laptop left it; sshfs's pid.

    The server thread ends with its stream: after the unmount, or when the socket is shut."""
    (laptop.root / ".git/index").write_bytes(laptop.index)
    ours, theirs = socket.socketpair()
    rfile, wfile = ours.makefile("rb"), ours.makefile("wb")
    thread = threading.Thread(
        target=serve, args=(str(laptop.root), rfile, wfile), name="bench-mount-sftp", daemon=True
    )
    thread.start()
    pid = 0
    try:
        with theirs:
            pid = await agent.mount_checkout(host_id, PATHS["mount"], theirs)
        yield pid
    finally:
        with trio.CancelScope(shield=True):
            try:
                if pid:
                    await agent.unmount_checkout(host_id, PATHS["mount"], sshfs_pid=pid)
            finally:
                await trio.to_thread.run_sync(thread.join, JOIN_S)
                if thread.is_alive():  # the stream did not end: end it here
                    ours.shutdown(socket.SHUT_RDWR)
                    await trio.to_thread.run_sync(thread.join, JOIN_S)
                rfile.close()
                wfile.close()
                ours.close()


def hashes_of(listing: str) -> dict[str, str]:
    pairs = (line.split("  ", 1) for line in listing.splitlines())
    return {path: digest for digest, path in pairs}


async def sample(host_id: str, place: Place, laptop: Laptop, results: Results) -> None:
    """One repetition's three figures in ``place``, each output checked against the laptop."""
    cwd = PATHS[place]
    for step in STEPS:
        seconds, output = await timed(host_id, cwd, READ if step == "read" else STATUS)
        if step == "read":
            results.seen[place].update(hashes_of(output))
            if results.seen[place] != laptop.hashes:
                raise RuntimeError(f"the files read {place} differ from the laptop's")
        else:
            results.status[place][:] = output.splitlines()
            if sorted(results.status[place]) != sorted(laptop.status):
                raise RuntimeError(f"git status {place}: {output!r}, laptop: {laptop.status}")
        results.samples[place][step].append(seconds)


async def measure(agent: Agent, host_id: str, laptop: Laptop, repeat: int) -> Results:
    """Time both places ``repeat`` times in the running box ``host_id``; mounts and unmounts
    the checkout itself, the copy on disk stays in the box."""
    files = len(laptop.hashes)
    results = Results(
        files,
        repeat,
        {place: {step: [] for step in STEPS} for place in PLACES},
        {place: {} for place in PLACES},
        {place: [] for place in PLACES},
    )
    async with mounted(agent, host_id, laptop):  # the disk's copy comes over the mount
        await in_box(host_id, f"cp -a {PATHS['mount']} {PATHS['disk']}")
        await in_box(host_id, f"cp {PATHS['mount']}/.git/index {SAVED_INDEX}")
    for turn in range(repeat):
        for place in rotated(PLACES, turn):
            results.seen[place].clear()
            if place == "disk":
                await in_box(host_id, f"cp {SAVED_INDEX} {PATHS['disk']}/.git/index")
                await sample(host_id, place, laptop, results)
                continue
            async with mounted(agent, host_id, laptop):
                await sample(host_id, place, laptop, results)
        figures = ", ".join(
            f"{place} " + " / ".join(f"{results.samples[place][s][-1]:.3f}" for s in STEPS)
            for place in PLACES
        )
        print(f"  repetition {turn + 1} (first / again / read s): {figures}", flush=True)
    return results


def report(results: Results) -> None:
    print()
    print(
        f"{results.files} files, {results.repeat} repetitions, median seconds inside the box"
        f" (user {BOX_USER}): our SFTP server + sshfs vs. the box's own disk"
    )
    print(f"{'step':44} {'mount s':>9} {'disk s':>9} {'mount ÷ disk':>13}")
    for step in STEPS:
        over, disk = (statistics.median(results.samples[p][step]) for p in PLACES)
        print(f"{LABELS[step]:44} {over:9.4f} {disk:9.4f} {ratio(over, disk):>13}")


async def bench(files: int, repeat: int, mode: Mode, scratch: Path, state_dir: Path) -> Results:
    configure("warning", "console")
    print(f"making a checkout of {files} files ...", flush=True)
    laptop = make_checkout(scratch / "proj", files)
    settings = Settings(state_dir=str(state_dir), agent=agent_settings(mode, state_dir))
    async with interruptible() as work, open_bench_agent(settings) as bench_agent:
        agent, host_id = bench_agent.agent, f"bench-{uuid.uuid4().hex[:8]}"
        with work:
            print("ensuring the box image and starting a box ...", flush=True)
            await agent.ensure_image()
            await agent.create_host(host_id, m.BoxSpec(disk_gb=1))
            await agent.start_host(host_id)
            await banner(agent, host_id)
            return await measure(agent, host_id, laptop, repeat)
    raise KeyboardInterrupt  # interruptible raises it once the work was cancelled


def run(files: int, repeat: int, mode: Mode) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-mount-"))
    try:
        with agent_state_dirs("bench-mount-agent-", [mode]) as state_dirs:
            results = trio.run(bench, files, repeat, mode, scratch, state_dirs[mode])
        report(results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mount", description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--agent", choices=("embedded", "socket"), default="embedded")
    args = parser.parse_args()
    if args.files < 2 or args.repeat < 1:
        parser.error("--files must be at least 2 and --repeat at least 1")
    return main_for(lambda: run(args.files, args.repeat, cast(Mode, args.agent)))


if __name__ == "__main__":
    sys.exit(main())
