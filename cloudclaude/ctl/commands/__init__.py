"""Every ``cloudclaudectl`` command, declared once, whole, in the module of its area.

Each module holds its commands' request classes, each decorated with ``@command`` (op,
command-line path, arguments, printer) and followed by its handler (``@handles``), with the
printers beside them. Importing this package fills ``registry.REGISTRY``, handlers included,
yet stays client-safe: a handler imports the daemon's modules (``core.health``, ``Context``)
in its body or for type checking only, so ``cloudclaudectl`` loads none of them.
"""

from __future__ import annotations

from cloudclaude.ctl.commands import (  # noqa: F401
    backups,
    credentials,
    daemon,
    exits,
    hosts,
    tasks,
    users,
)

#: Top-level words in the order ``cloudclaudectl --help`` lists them (unlisted words follow).
LISTING = (
    "status",
    "users",
    "audit",
    "keys",
    "hosts",
    "tasks",
    "exits",
    "credentials",
    "usage",
    "backup",
    "reload",
)
