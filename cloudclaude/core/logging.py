"""Structured logging: one event per line, JSON under systemd, readable console in a terminal."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


def _use_json(fmt: str) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID")) or (
        not sys.stderr.isatty()
    )


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Set up structlog and route stdlib logging (hypercorn, asyncssh) through it."""
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
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
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
    root.setLevel(max(_LEVELS[level], logging.INFO))
    # One line per Docker API call would drown everything else; errors still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Change the level at run time (SIGHUP)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]))
    logging.getLogger().setLevel(max(_LEVELS[level], logging.INFO))


def _identity(_logger: Any, _name: str, event: Any) -> Any:
    return event


def get(name: str) -> Any:
    """A logger with ``component`` bound."""
    return structlog.get_logger(component=name)
