"""Template filters the pages share."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any


def urlencode_with(args: Mapping[str, Any], **changes: Any) -> str:
    """The query string of ``args`` with ``changes`` applied (paging links keep the filters)."""
    merged = {key: value for key, value in dict(args).items() if value not in (None, "")}
    merged.update({key: value for key, value in changes.items()})
    return urllib.parse.urlencode(merged)
