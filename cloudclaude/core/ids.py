"""Ids from the outside world (URLs, forms, the command line): one parser, one coded error."""

from __future__ import annotations

import uuid

from cloudclaude.errors import CloudClaudeError


def parse_uuid(value: str, what: str = "id", slug: str = "not_found") -> uuid.UUID:
    """``value`` as a UUID; anything else is ``slug`` ("no such …" by default, a 404)."""
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError) as exc:
        raise CloudClaudeError(
            slug, f"no such {what}" if slug == "not_found" else f"{what}: not an id"
        ) from exc
