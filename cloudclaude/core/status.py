"""What each supervised component is doing, for ``cloudclaudectl status`` and ``/healthz``."""

from __future__ import annotations

import os
import time
from typing import Literal

from cloudclaude import __version__
from cloudclaude.core.metrics import Metrics

ComponentState = Literal["starting", "running", "stopping", "stopped", "failed"]


class StatusBoard:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.components: dict[str, ComponentState] = {}
        self.started_monotonic = time.monotonic()
        self.version = __version__
        self.pid = os.getpid()
        self._metrics = metrics

    def set(self, name: str, state: ComponentState) -> None:
        self.components[name] = state
        if self._metrics is not None:
            self._metrics.component_up.labels(name).set(1 if state == "running" else 0)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started_monotonic
