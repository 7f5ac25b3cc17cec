"""Error codes and the exception every domain error derives from.

Hierarchy: ``CloudClaudeError`` carries one registry entry (``ErrorCode``) plus an optional
detail text, and whether an admin reads it (``admin``: the row's ``admin_fix`` replaces the fix
meant for a user, where the row has one); adapters translate foreign exceptions into it with
``raise ... from exc`` so that the HTTP layer, the ctl socket, the bootstrap scripts and the
pages all speak the same codes.

The entries are named constants in one module per domain (``cloudclaude.errors.auth``,
``state``, ``ssh``, ``net``, ``disk``, ``system``), e.g.
``CloudClaudeError(state.CONTAINER_MISSING)``; the slug string (``"container_missing"``) is
accepted too.
"""

from __future__ import annotations

from typing import Any

from cloudclaude.errors.codes import DOMAINS, REGISTRY, ErrorCode, by_code, by_slug

__all__ = ["DOMAINS", "REGISTRY", "CloudClaudeError", "ErrorCode", "by_code", "by_slug"]


class CloudClaudeError(Exception):
    """A failure with a registry code; ``detail`` says what exactly went wrong this time.

    ``admin`` is true when the reader is an admin (or an operator): the fix is then the row's
    ``admin_fix`` if it has one. Whoever raises it may know; the web layer sets it for a
    signed-in admin too.
    """

    def __init__(
        self,
        error: str | ErrorCode,
        /,
        detail: str | None = None,
        *,
        admin: bool = False,
        **extra: Any,
    ) -> None:
        if isinstance(error, str):
            error = by_slug(error)
        elif by_code(error.code) is not error:
            raise KeyError(f"{error.code} {error.slug} is not an entry of the registry")
        self.error = error
        self.detail = detail
        self.admin = admin
        self.extra = extra
        super().__init__(f"{self.error.code} {self.error.slug}: {detail or self.error.message}")

    @property
    def http_status(self) -> int:
        return self.error.http_status

    @property
    def fix(self) -> str:
        """What the reader should do: the admin's fix for an admin when the row has one."""
        return (self.admin and self.error.admin_fix) or self.error.fix

    def body(self) -> dict[str, Any]:
        """The API error body ``{"error": {code, slug, message, cause, fix}}``."""
        inner: dict[str, Any] = {
            "code": self.error.code,
            "slug": self.error.slug,
            "message": self.detail or self.error.message,
            "cause": self.error.cause,
            "fix": self.fix,
        }
        inner.update(self.extra)
        return {"error": inner}
