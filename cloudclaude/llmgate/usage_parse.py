"""Token counts read from a Messages API answer as it passes, streamed or whole.

Streamed answers (server-sent events) carry ``usage`` in ``message_start`` (input and cache
tokens, the model) and in ``message_delta`` (output tokens so far: the last one counts). Whole
answers are one JSON object with ``usage`` and ``model``. Only these numbers are kept: the
prompt and the answer pass through and are forgotten. Buffers are bounded: an event or a body
past the bound is skipped (its tokens are then unknown, counted as 0), never held.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

#: The longest single event (or whole JSON answer) read for its counts.
MAX_EVENT_BYTES = 1 << 20
MAX_JSON_BYTES = 8 << 20
_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@attrs.define
class Counts:
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_tokens
            + self.cache_read_tokens
        )

    def take(self, usage: object) -> None:
        """Keep the counts a ``usage`` object names (later values replace earlier ones)."""
        if not isinstance(usage, dict):
            return
        found = {name: _count(usage.get(name)) for name in _FIELDS}
        if found["input_tokens"] is not None:
            self.input_tokens = found["input_tokens"]
        if found["output_tokens"] is not None:
            self.output_tokens = found["output_tokens"]
        if found["cache_creation_input_tokens"] is not None:
            self.cache_creation_tokens = found["cache_creation_input_tokens"]
        if found["cache_read_input_tokens"] is not None:
            self.cache_read_tokens = found["cache_read_input_tokens"]

    def take_model(self, model: object) -> None:
        if isinstance(model, str) and model and len(model) <= 200:
            self.model = model


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40:
        return value
    return None


class UsageReader:
    """Fed the answer's bytes as they pass; ``counts`` holds what they said."""

    def __init__(self, content_type: str) -> None:
        self.counts = Counts()
        self._stream = content_type.split(";")[0].strip().lower() == "text/event-stream"
        self._json = content_type.split(";")[0].strip().lower() == "application/json"
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> None:
        if self._stream:
            self._feed_events(data)
        elif self._json and not self._skipping:
            self._buffer += data
            if len(self._buffer) > MAX_JSON_BYTES:
                self._buffer.clear()
                self._skipping = True

    def finish(self) -> Counts:
        if self._json and not self._skipping and self._buffer:
            body = _loads(bytes(self._buffer))
            if isinstance(body, dict):
                self.counts.take_model(body.get("model"))
                self.counts.take(body.get("usage"))
        elif self._stream and self._buffer:
            self._event(bytes(self._buffer))
        self._buffer.clear()
        return self.counts

    def _feed_events(self, data: bytes) -> None:
        self._buffer += data
        while True:
            cut, width = _event_end(self._buffer)
            if cut < 0:
                break
            event = bytes(self._buffer[:cut])
            del self._buffer[: cut + width]
            if self._skipping:
                self._skipping = False  # the oversized event ended here
            else:
                self._event(event)
        if len(self._buffer) > MAX_EVENT_BYTES:
            self._buffer.clear()
            self._skipping = True

    def _event(self, raw: bytes) -> None:
        data = b"\n".join(
            line[5:].lstrip(b" ")
            for line in raw.replace(b"\r\n", b"\n").split(b"\n")
            if line.startswith(b"data:")
        )
        body = _loads(data)
        if not isinstance(body, dict):
            return
        kind = body.get("type")
        if kind == "message_start" and isinstance(body.get("message"), dict):
            message = body["message"]
            self.counts.take_model(message.get("model"))
            self.counts.take(message.get("usage"))
        elif kind == "message_delta":
            self.counts.take(body.get("usage"))


def _event_end(buffer: bytearray) -> tuple[int, int]:
    """Where the first complete event ends (a blank line), and the separator's width."""
    found = [(buffer.find(sep), len(sep)) for sep in (b"\n\n", b"\r\n\r\n")]
    found = [(at, width) for at, width in found if at >= 0]
    return min(found) if found else (-1, 0)


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
