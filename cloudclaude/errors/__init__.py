"""Error codes and the exception every domain error derives from.

Hierarchy: ``CloudClaudeError`` carries one registry entry (``ErrorCode``) plus an optional
detail text; adapters translate foreign exceptions into it with ``raise ... from exc`` so that
the HTTP layer, the ctl socket, the bootstrap scripts and the pages all speak the same codes.

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
    """A failure with a registry code; ``detail`` says what exactly went wrong this time."""

    def __init__(self, error: str | ErrorCode, /, detail: str | None = None, **extra: Any) -> None:
        if isinstance(error, str):
            error = by_slug(error)
        elif by_code(error.code) is not error:
            raise KeyError(f"{error.code} {error.slug} is not an entry of the registry")
        self.error = error
        self.detail = detail
        self.extra = extra
        super().__init__(f"{self.error.code} {self.error.slug}: {detail or self.error.message}")

    @property
    def http_status(self) -> int:
        return self.error.http_status

    def body(self) -> dict[str, Any]:
        """The API error body ``{"error": {code, slug, message, cause, fix}}``."""
        inner: dict[str, Any] = {
            "code": self.error.code,
            "slug": self.error.slug,
            "message": self.detail or self.error.message,
            "cause": self.error.cause,
            "fix": self.error.fix,
        }
        inner.update(self.extra)
        return {"error": inner}
