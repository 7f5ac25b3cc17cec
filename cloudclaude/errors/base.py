"""The shape of one error-registry row (``ErrorCode``) and the code domains.

Kept apart from the domain modules (``auth``, ``state``, ``net``, ...) and from ``codes``, which
assembles the registry from them, so that every one of them can import it without a cycle.
"""

from __future__ import annotations

import attrs

DOMAINS = ("AUTH", "SSH", "NET", "SESSION", "MOUNT", "DISK", "STATE", "SYSTEM")


@attrs.frozen(kw_only=True)
class ErrorCode:
    """One registry row."""

    code: str
    slug: str
    http_status: int
    exit_code: int = 1
    message: str
    cause: str
    fix: str
    #: The fix told to an admin, when the one for a user does not fit them (a user is sent to
    #: an admin; an admin can look for themselves). Empty: ``fix`` fits everyone.
    admin_fix: str = ""
