"""``cloudclaude run`` for the chaos campaign: the real daemon process, as root, socket agent.

``cloudclaude run`` refuses root unless its agent is embedded (``SYSTEM_016``), and the venv's
interpreter lives where the ``cloudclaude`` user cannot run it on these machines. The campaign
needs the daemon and the agent as two processes it can kill apart, so this runs the very
supervisor ``cloudclaude run`` runs (same settings loading, logging, components), as root,
against the campaign's socket agent. Only the root guard is left out.
"""

from __future__ import annotations

import sys

import trio

from cloudclaude.app import supervisor
from cloudclaude.core import logging as cc_logging
from cloudclaude.core import settings as settings_mod
from cloudclaude.core.settings import LiveSettings


def main() -> int:
    settings = settings_mod.load(None)
    cc_logging.configure(settings.log.level, settings.log.format)
    clean = trio.run(supervisor.run, LiveSettings(settings, None))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
