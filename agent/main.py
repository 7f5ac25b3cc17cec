"""``cloudclaude-agent``: entry point of the privileged agent.

The agent's socket mode (Docker, netns, nftables, sing-box operations) is built by the Agent
issue; until then this entry point says so plainly and exits non-zero instead of pretending.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_NOT_AVAILABLE = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cloudclaude-agent",
        description="cloudclaude's privileged agent (Docker, network namespaces, egress).",
    )
    parser.parse_args(argv)
    print(
        "error SYSTEM_011 agent_unavailable: the privileged agent is not implemented in this"
        " version yet; the daemon reports it as not configured",
        file=sys.stderr,
    )
    return EXIT_NOT_AVAILABLE


if __name__ == "__main__":
    sys.exit(main())
