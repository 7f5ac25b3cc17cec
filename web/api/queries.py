"""Query parameters shared by many routes, as attrs classes for ``@documented(query=...)``.

A route's own filters subclass these next to its handler. The bounds are the ones
``web.api.common.paging`` enforces (a bad value is 400 ``bad_query``).
"""

from __future__ import annotations

from typing import Literal

import attrs
from attrs.validators import ge, le

from web.api.common import MAX_OFFSET


@attrs.frozen(kw_only=True)
class PageQuery:
    #: How many rows, 1..200.
    limit: int = attrs.field(default=50, validator=[ge(1), le(200)])
    #: How many rows to skip.
    offset: int = attrs.field(default=0, validator=[ge(0), le(MAX_OFFSET)])


@attrs.frozen(kw_only=True)
class ShQuery:
    #: ``sh``: ``key value`` lines as text (what the connect script reads), errors too.
    format: Literal["json", "sh"] = "json"
