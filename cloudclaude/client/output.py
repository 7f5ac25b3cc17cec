"""How a command prints what it found: JSON with ``--json``, else the text for people."""

from __future__ import annotations

import argparse
import json
from typing import Any


def show(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=1) if getattr(args, "json", False) else text)
