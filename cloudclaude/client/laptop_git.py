"""``git push``, ``fetch`` and ``pull`` run on the laptop at the box's request (they need the
laptop's credentials), over the checkout's SFTP stream so nothing else reaches the laptop.

The box writes a request into the virtual directory ``/.cloud-claude/git/`` of the mount:
``<id>.request`` (``id`` matching :data:`ID`), the argv after ``git`` as NUL-terminated
strings (``printf '%s\\0' push origin main``). When it is closed the request is checked and
queued; when git is done ``<id>.result`` appears: the exit status on the first line, then
git's combined output (at most :data:`MAX_OUTPUT` bytes). A refused request gets status
:data:`REFUSED` and the reason. ``image/laptop-git`` is the box's side.

Only those three builtins run (argv[0] is fixed, and git ignores aliases that shadow a
builtin), with hooks off (``core.hooksPath=/dev/null``), the ext:: transport off, no prompt,
no editor, stdin closed, no shell, cwd the checkout, a bounded time and output. The box's
options must be in a small allow-list (so ``-c``, ``--upload-pack``, ``--exec``, their
``=`` and abbreviated forms are refused), the remote must be a configured remote's *name*
(never a URL), and refspecs are plain characters that do not start with ``-``; a push
may not force (``+ref``: only ``--force-with-lease``) or delete (``:ref``) a remote branch.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Sequence

ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
REMOTE = re.compile(r"[A-Za-z0-9._-]+")
REFSPEC = re.compile(r"\+?[A-Za-z0-9._/:@^~{}*-]*")
REFUSED = 126
MAX_OUTPUT = 64 * 1024
MAX_REQUEST = 8 * 1024
MAX_ARGS = 32
MAX_PENDING = 4
MAX_RESULTS = 32
TIMEOUT = 300.0

_COMMON = {"-v", "--verbose", "-q", "--quiet"}
ALLOWED: dict[str, set[str]] = {
    "push": _COMMON
    | {"--dry-run", "--tags", "--all", "--force-with-lease", "--force-if-includes"}
    | {"-u", "--set-upstream", "--prune"},
    "fetch": _COMMON | {"--dry-run", "--tags", "--all", "--prune", "--no-tags"},
    "pull": _COMMON
    | {"--rebase", "--no-rebase", "--ff-only", "--ff", "--no-ff"}
    | {"--prune", "--tags", "--autostash"},
}
#: Options with a reason of their own (any other option not allowed is refused generically).
DANGEROUS = {
    "-c": "sets git config, which can run programs",
    "--config-env": "sets git config, which can run programs",
    "--exec-path": "runs git's programs from another directory",
    "--upload-pack": "names a program to run",
    "--receive-pack": "names a program to run",
    "--exec": "names a program to run",
    "--git-dir": "points git at another repository",
    "--work-tree": "points git at another directory",
    "-C": "runs git in another directory",
    "--namespace": "changes which refs git sees",
    "--repo": "names a repository URL",
    "--recurse-submodules": "runs git in submodules with their own remotes",
}

_BASE = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never", "--no-pager"]
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": ":", "GIT_SEQUENCE_EDITOR": ":"}


class GitRefused(Exception):
    """A request that is not run; the message says why."""


def parse(data: bytes) -> list[str]:
    """The argv of a request file: NUL-terminated UTF-8 strings."""
    if len(data) > MAX_REQUEST or not data.endswith(b"\0"):
        raise GitRefused("a request is NUL-terminated strings, at most 8 KiB")
    try:
        argv = [a.decode("utf-8") for a in data[:-1].split(b"\0")]
    except UnicodeDecodeError:
        raise GitRefused("the request is not UTF-8") from None
    if len(argv) > MAX_ARGS:
        raise GitRefused(f"more than {MAX_ARGS} arguments")
    return argv


def validate(argv: Sequence[str], remotes: Sequence[str]) -> list[str]:
    """``argv`` (after ``git``) checked against the rules above; returns it, or raises."""
    if not argv or argv[0] not in ALLOWED:
        raise GitRefused(f"only {', '.join(sorted(ALLOWED))} may run on the laptop")
    sub, positional = argv[0], []
    for arg in argv[1:]:
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            if name in DANGEROUS or (name.startswith("-c") and not name.startswith("--")):
                raise GitRefused(f"{arg!r}: {DANGEROUS.get(name, DANGEROUS['-c'])}")
            if arg not in ALLOWED[sub]:
                raise GitRefused(f"{arg!r}: not an option git {sub} may take from the box")
        else:
            positional.append(arg)
    if positional:
        remote = positional[0]
        if not REMOTE.fullmatch(remote) or remote.startswith("."):
            raise GitRefused(f"{remote!r}: only a configured remote's name, never a URL")
        if remote not in remotes:
            raise GitRefused(f"{remote!r}: not a remote of this checkout")
    for ref in positional[1:]:
        if not ref or len(ref) > 256 or not REFSPEC.fullmatch(ref) or ref.lstrip("+")[:1] == "-":
            raise GitRefused(f"{ref!r}: not a plain refspec")
        if sub == "push" and ref.startswith("+"):
            raise GitRefused(f"{ref!r}: forces the push (use --force-with-lease)")
        if sub == "push" and ref.startswith(":"):
            raise GitRefused(f"{ref!r}: deletes a remote branch (do that on the laptop)")
    return list(argv)


def command(argv: Sequence[str]) -> list[str]:
    return [*_BASE, *argv]


def configured_remotes(root: str) -> list[str]:
    out = subprocess.run(
        [*_BASE, "remote"], cwd=root, capture_output=True, timeout=30, check=False
    ).stdout
    return out.decode("utf-8", "replace").split()


def hooks_path(root: str) -> str | None:
    """``core.hooksPath`` (as the laptop's git sees it) when it lies inside the checkout, as
    a path from the root: the server protects it like ``.git/hooks``. None otherwise."""
    try:
        done = subprocess.run(
            ["git", "config", "--path", "--get", "core.hooksPath"],
            cwd=root,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.decode("utf-8", "surrogateescape").strip()
    if done.returncode != 0 or not value:
        return None
    real_root = os.path.realpath(root)
    # Relative to the working tree's top, where git runs hooks (the checkout root here).
    target = os.path.realpath(os.path.join(real_root, value))
    inside = os.path.relpath(target, real_root)
    if inside in (".", "..") or inside.startswith(".." + os.sep):
        return None  # outside (unreachable), or the root itself (not supported)
    return inside.replace(os.sep, "/")


def run(root: str, argv: Sequence[str], timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """Run a validated request: its exit status and output (bounded; the rest is dropped)."""
    drop = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_NAMESPACE", "GIT_COMMON_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(_ENV)
    proc = subprocess.Popen(
        command(argv),
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    kept, dropped = bytearray(), 0
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(8192):
            room = MAX_OUTPUT - len(kept)
            kept += chunk[:room]
            dropped += max(0, len(chunk) - room)
        code = proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
    if dropped:
        kept += f"\n[cloud-claude: {dropped} more bytes of output dropped]\n".encode()
    if code < 0:
        kept += f"\n[cloud-claude: git stopped after {timeout:.0f} s]\n".encode()
        code = 124
    return code, bytes(kept)


class Desk:
    """Takes requests, runs them one at a time on a worker thread, keeps the last results.

    ``report`` is called (from either thread) with one line per request, refusal and result.
    """

    def __init__(
        self, root: str, report: Callable[[str], None], *, timeout: float = TIMEOUT
    ) -> None:
        self.root = root
        self.report = report
        self.timeout = timeout
        self.results: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.todo: queue.Queue[tuple[str, list[str]] | None] = queue.Queue(MAX_PENDING)
        self.worker = threading.Thread(target=self._work, name="laptop-git", daemon=True)
        self.worker.start()

    def submit(self, request_id: str, data: bytes) -> None:
        try:
            argv = validate(parse(data), configured_remotes(self.root))
            self.todo.put_nowait((request_id, argv))
        except (OSError, subprocess.SubprocessError) as exc:
            self.report(f"git request refused: cannot list the remotes ({exc})")
            self._finish(request_id, REFUSED, b"cloud-claude refused: cannot list the remotes\n")
        except GitRefused as exc:
            self.report(f"git request refused: {exc}")
            self._finish(request_id, REFUSED, f"cloud-claude refused: {exc}\n".encode())
        except queue.Full:
            self._finish(request_id, REFUSED, b"cloud-claude refused: too many requests\n")
        else:
            self.report(f"git request: git {' '.join(argv)}")

    def result(self, request_id: str) -> bytes | None:
        with self.lock:
            return self.results.get(request_id)

    def names(self) -> list[str]:
        with self.lock:
            return list(self.results)

    def forget(self, request_id: str) -> bool:
        with self.lock:
            return self.results.pop(request_id, None) is not None

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self.todo.put_nowait(None)

    def _finish(self, request_id: str, code: int, output: bytes) -> None:
        with self.lock:
            self.results.pop(request_id, None)
            while len(self.results) >= MAX_RESULTS:
                self.results.pop(next(iter(self.results)))
            self.results[request_id] = f"{code}\n".encode() + output

    def _work(self) -> None:
        while (item := self.todo.get()) is not None:
            request_id, argv = item
            try:
                code, output = run(self.root, argv, self.timeout)
            except OSError as exc:
                code, output = 127, f"cloud-claude: cannot run git: {exc}\n".encode()
            self.report(f"git {' '.join(argv)}: exit status {code}")
            self._finish(request_id, code, output)
