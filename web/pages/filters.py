"""Template filters the pages share."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from cloudclaude.core.printable import escape_controls

#: Kept as they are in pages: harmless in HTML, and log text in a ``<pre>`` needs them.
PAGE_WHITESPACE = "\n\t"


def urlencode_with(args: Mapping[str, Any], **changes: Any) -> str:
    """The query string of ``args`` with ``changes`` applied (paging links keep the filters)."""
    merged = {key: value for key, value in dict(args).items() if value not in (None, "")}
    merged.update({key: value for key, value in changes.items()})
    return urllib.parse.urlencode(merged)


def show_controls(value: Any) -> Any:
    """Jinja's ``finalize`` for every ``{{ }}``: autoescaping stops HTML, this makes ESC, CR,
    NUL and bidi overrides in stored text (usernames, key comments, logs) visible escapes."""
    if isinstance(value, str) and not hasattr(value, "__html__"):  # Markup is already safe
        return escape_controls(value, keep=PAGE_WHITESPACE)
    return value
