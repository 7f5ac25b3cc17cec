"""Every ``cloudclaudectl`` command, declared once in the module of its area.

Each module holds its commands' request classes, each decorated with ``@command`` (op,
command-line path, arguments, printer), and their printers. Importing this package fills
``registry.REGISTRY``; client-safe (no handler is imported here: see ``ctl.handlers``).
"""

from __future__ import annotations

from cloudclaude.ctl.commands import daemon, exits, hosts, tasks, users  # noqa: F401

#: Top-level words in the order ``cloudclaudectl --help`` lists them (unlisted words follow).
LISTING = ("status", "users", "audit", "keys", "hosts", "tasks", "exits", "reload")
