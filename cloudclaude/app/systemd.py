"""sd_notify for the daemon: the same small implementation the agent uses."""

from __future__ import annotations

from agent.sdnotify import notify

__all__ = ["notify"]
