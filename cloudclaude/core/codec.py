"""The strict cattrs converter used for the daemon's wire formats (API bodies, ctl frames).

It is the agent protocol's strict converter (unknown keys refused, no scalar coercion) plus
ISO 8601 dates.
"""

from __future__ import annotations

import datetime as dt

import cattrs

from agent.protocol import codec as agent_codec
from cloudclaude.core.timefmt import parse_datetime


def strict_converter() -> cattrs.Converter:
    converter = agent_codec.strict_converter()
    converter.register_structure_hook(dt.datetime, parse_datetime)
    return converter
