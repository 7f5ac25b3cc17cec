"""Structured logging shared by the agent and the daemon: one event per line, one format.

It lives on the agent side because the agent imports nothing of the daemon; the daemon's
``cloudclaude.core.logging`` re-exports it, so both processes write the same lines (JSON under
systemd or into a pipe, readable console in a terminal).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("auto", "json", "console")


def _use_json(fmt: str) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID")) or (
        not sys.stderr.isatty()
    )


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Set up structlog and route stdlib logging (hypercorn, asyncssh, httpx) through it."""
    json_out = _use_json(fmt)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_out
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if json_out else _identity,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(LEVELS[level], logging.INFO))
    # One line per Docker API call would drown everything else; errors still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Change the level at run time (the daemon's SIGHUP)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]))
    logging.getLogger().setLevel(max(LEVELS[level], logging.INFO))


def _identity(_logger: Any, _name: str, event: Any) -> Any:
    return event


def get(name: str) -> Any:
    """A logger with ``component`` bound, the key every line carries."""
    return structlog.get_logger(component=name)
