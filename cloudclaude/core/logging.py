"""The daemon's logging: the agent's shared configuration, so both write the same JSON lines.

The configuration lives in ``agent.logconfig`` (the agent imports nothing of the daemon); this
module keeps the daemon's names for it.
"""

from __future__ import annotations

from agent.logconfig import configure, get, set_level

__all__ = ["configure", "get", "set_level"]
