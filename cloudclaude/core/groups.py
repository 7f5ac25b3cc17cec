"""Exceptions out of trio nurseries: a group's leaves, and the one real error unwrapped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import trio


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``exc`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


@contextlib.contextmanager
def first_error() -> Iterator[None]:
    """Around a nursery whose tasks fail each other: raise the first failure that is not a
    cancellation as itself, so callers catch ``AgentError`` or ``CloudClaudeError`` plainly."""
    try:
        yield
    except BaseExceptionGroup as group:
        real = [leaf for leaf in leaves(group) if not isinstance(leaf, trio.Cancelled)]
        if real:
            raise real[0] from None
        raise
