"""The box image's last build, as ``cloudclaude image build`` reported it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs


@attrs.frozen(kw_only=True)
class ImageBuild:
    status: Literal["running", "succeeded", "failed"]
    percent: int
    stage: str
    message: str
    image: str | None
    error_code: str | None
    started_at: dt.datetime
    updated_at: dt.datetime
