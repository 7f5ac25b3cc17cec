"""Names and labels of what the agent makes for a host, so leftovers can always be found.

Every name and path the agent builds from a host id goes through ``check_host_id``; a host id
that arrives on the wire also goes through ``check_wire_host_id`` before any handler runs.
"""

from __future__ import annotations

import re

from agent import errors

MANAGED_LABEL = "cloudclaude.managed"
HOST_LABEL = "cloudclaude.host_id"
#: Which cloudclaude installation made it: several may share one dockerd (tests, staging).
INSTANCE_LABEL = "cloudclaude.instance"
_HOST_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
#: Ids of the throwaway gateways ``ProbeExit`` makes (``agent.egress.gateways``): the agent's
#: own, so no request may name one.
PROBE_PREFIX = "probe-"


def check_host_id(host_id: str) -> str:
    """A host id safe in container names and paths (the daemon uses UUIDs)."""
    if not _HOST_ID.fullmatch(host_id):
        raise errors.AgentError(
            errors.VALIDATION_FAILED,
            f"bad host id {host_id[:80]!r}: lowercase letters, digits and '-', at most 63",
        )
    return host_id


def check_wire_host_id(host_id: str) -> str:
    """A host id a caller sent: well formed, and none of the agent's own probe gateways."""
    check_host_id(host_id)
    if host_id.startswith(PROBE_PREFIX):
        raise errors.AgentError(
            errors.VALIDATION_FAILED, f"host id {host_id!r}: {PROBE_PREFIX}… is the agent's own"
        )
    return host_id


def container_name(host_id: str) -> str:
    return f"cloudclaude-{check_host_id(host_id)}"


def labels(host_id: str, instance: str) -> dict[str, str]:
    return {MANAGED_LABEL: "1", HOST_LABEL: check_host_id(host_id), INSTANCE_LABEL: instance}
