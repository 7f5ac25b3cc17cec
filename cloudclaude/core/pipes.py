"""A child program whose pipes the daemon feeds or drains (restic, pg_dump, pg_restore).

Every run has a deadline, the child is killed when it is cut short, and only the tail of its
stderr is kept for the error, which carries the registry code the caller names.
"""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable, Mapping

import trio

from cloudclaude.errors import CloudClaudeError, ErrorCode

#: What is kept of a child's stderr for an error message.
STDERR_KEEP = 4000

Work = Callable[[trio.Process], Awaitable[None]]


async def run_piped(
    argv: list[str],
    work: Work,
    *,
    what: str,
    code: ErrorCode,
    deadline_s: float,
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ``argv`` with ``work`` on its pipes; past ``deadline_s`` or on a non-zero exit, a
    ``CloudClaudeError(code)`` naming ``what`` with the child's last words."""
    errors = bytearray()
    try:
        process = await trio.lowlevel.open_process(
            argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env
        )
    except OSError as exc:
        raise CloudClaudeError(code, f"{what}: {argv[0]} could not run: {exc}") from exc
    try:
        with trio.move_on_after(deadline_s) as scope:
            assert process.stderr is not None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect, process.stderr, errors, STDERR_KEEP)
                await work(process)
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
    if scope.cancelled_caught:
        raise CloudClaudeError(code, f"{what} ran past {deadline_s:g}s")
    if process.returncode != 0:
        words = errors.decode(errors="replace").strip() or f"exit {process.returncode}"
        raise CloudClaudeError(code, f"{what} failed: {words}")


async def collect(stream: trio.abc.ReceiveStream, into: bytearray, keep: int) -> None:
    """Read ``stream`` to its end, keeping its last ``keep`` bytes in ``into``."""
    while chunk := await stream.receive_some(65536):
        into.extend(chunk)
        del into[: max(0, len(into) - keep)]
