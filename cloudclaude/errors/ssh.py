"""SSH_* error codes. The SSH path into a box (DESIGN.md section 8).

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

SSH_NOT_READY = ErrorCode(
    code="SSH_001",
    slug="ssh_not_ready",
    http_status=503,
    exit_code=15,
    message="The box's SSH server is not ready.",
    cause="sshd inside the box did not answer in time.",
    fix="Wait a moment and reconnect; ask an admin if it persists.",
)

SSH_SESSION_ENDED = ErrorCode(
    code="SSH_002",
    slug="ssh_session_ended",
    http_status=401,
    message="Your session was ended.",
    cause=(
        "While it was open, the account's sessions were ended: its password was changed or"
        " reset, it was disabled, expired or deleted, or it lost the admin role this session"
        " needed."
    ),
    fix="Connect again with valid credentials; ask an admin if the account is disabled.",
)
