"""Error codes the agent puts in ``ErrorReply.code``.

The agent imports nothing from the daemon, so it names registry codes as strings; a test checks
each exists in the daemon's registry (``cloudclaude/errors/codes.py``).
"""

from __future__ import annotations

PROTOCOL_ERROR = "SYSTEM_008"
PROTOCOL_VERSION_MISMATCH = "SYSTEM_012"
PEER_NOT_ALLOWED = "AUTH_010"
INTERNAL_ERROR = "SYSTEM_001"
AGENT_UNAVAILABLE = "SYSTEM_011"
VALIDATION_FAILED = "SYSTEM_004"
CONTAINER_MISSING = "STATE_008"
HOST_NOT_RUNNING = "STATE_009"
PORT_UNREACHABLE = "NET_002"
HOME_VOLUME_FAILED = "DISK_001"
DOCKER_UNAVAILABLE = "SYSTEM_013"
DOCKER_ERROR = "SYSTEM_014"
IMAGE_BUILD_FAILED = "SYSTEM_015"
EGRESS_SETUP_FAILED = "NET_003"
EGRESS_TUNNEL_DOWN = "NET_007"
EXIT_INVALID = "NET_008"
EXIT_SERVER_UNRESOLVABLE = "NET_013"
SINGBOX_UNAVAILABLE = "NET_014"

ALL = (
    PROTOCOL_ERROR,
    PROTOCOL_VERSION_MISMATCH,
    PEER_NOT_ALLOWED,
    INTERNAL_ERROR,
    AGENT_UNAVAILABLE,
    VALIDATION_FAILED,
    CONTAINER_MISSING,
    HOST_NOT_RUNNING,
    PORT_UNREACHABLE,
    HOME_VOLUME_FAILED,
    DOCKER_UNAVAILABLE,
    DOCKER_ERROR,
    IMAGE_BUILD_FAILED,
    EGRESS_SETUP_FAILED,
    EGRESS_TUNNEL_DOWN,
    EXIT_INVALID,
    EXIT_SERVER_UNRESOLVABLE,
    SINGBOX_UNAVAILABLE,
)


class AgentError(Exception):
    """A failed operation; the server answers it with ``ErrorReply(code, message)``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
