"""The daemon's side of the registry: what each declared command does.

Server-only (``ctl.server`` imports it; ``cloudclaudectl`` never does): handlers reach data and
the agent only through the domain services on ``cloudclaude.app.wiring.Services``. One module
per area, mirroring ``ctl.commands``; importing this package attaches every handler.
"""

from __future__ import annotations

from cloudclaude.ctl.handlers import daemon, exits, hosts, tasks, users  # noqa: F401
from cloudclaude.ctl.handlers.table import HANDLERS, Context

__all__ = ["HANDLERS", "Context"]
