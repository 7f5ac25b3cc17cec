"""Token counts are read from Messages API answers, streamed or whole, in any chunking."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudclaude.llmgate.usage_parse import MAX_EVENT_BYTES, UsageReader


def sse(*events: Mapping[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


START = {
    "type": "message_start",
    "message": {
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 400,
            "output_tokens": 1,
        },
    },
}
DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn"},
    "usage": {"output_tokens": 57},
}
STREAM = sse(
    START,
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "message_delta", "usage": {"output_tokens": 20}},
    DELTA,
    {"type": "message_stop"},
)


def test_a_stream_gives_input_and_cache_from_the_start_and_output_from_the_last_delta() -> None:
    for size in (1, 7, 64, len(STREAM)):
        reader = UsageReader("text/event-stream; charset=utf-8")
        for at in range(0, len(STREAM), size):
            reader.feed(STREAM[at : at + size])
        counts = reader.finish()
        assert counts.model == "claude-sonnet-4-5"
        assert (counts.input_tokens, counts.output_tokens) == (120, 57)
        assert (counts.cache_creation_tokens, counts.cache_read_tokens) == (30, 400)
        assert counts.total == 120 + 57 + 30 + 400


def test_crlf_separated_events_are_read_too() -> None:
    reader = UsageReader("text/event-stream")
    reader.feed(STREAM.replace(b"\n", b"\r\n"))
    assert reader.finish().output_tokens == 57


def test_a_whole_answer_is_read_from_its_json() -> None:
    body = {"model": "claude-haiku-4-5", "usage": {"input_tokens": 9, "output_tokens": 4}}
    reader = UsageReader("application/json")
    data = json.dumps(body).encode()
    reader.feed(data[:5])
    reader.feed(data[5:])
    counts = reader.finish()
    assert (counts.model, counts.input_tokens, counts.output_tokens) == ("claude-haiku-4-5", 9, 4)


def test_garbage_negative_or_huge_counts_and_other_types_count_nothing() -> None:
    reader = UsageReader("text/event-stream")
    reader.feed(b"data: {not json\n\n")
    reader.feed(
        sse({"type": "message_delta", "usage": {"output_tokens": -5, "input_tokens": True}})
    )
    reader.feed(sse({"type": "message_delta", "usage": {"output_tokens": 1 << 50}}))
    assert reader.finish().total == 0
    other = UsageReader("text/html")
    other.feed(STREAM)
    assert other.finish().total == 0


def test_an_oversized_event_is_skipped_and_the_buffer_stays_bounded() -> None:
    reader = UsageReader("text/event-stream")
    reader.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 10))
    assert len(reader._buffer) == 0
    reader.feed(b"still the same event\n\n")
    reader.feed(sse(DELTA))
    assert reader.finish().output_tokens == 57
