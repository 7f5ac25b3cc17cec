"""An SSE stream (web/live.py ``stream``) ends as soon as its session stops authenticating."""

from __future__ import annotations

from typing import cast

from cloudclaude.core.settings import WebSettings
from web.live import ChangeFeed, stream


class QuietFeed:
    """A feed with nothing new; counts its polls."""

    topics = ("hosts",)

    def __init__(self) -> None:
        self.polls = 0

    async def start(self) -> None:
        pass

    async def poll(self) -> list[bytes]:
        self.polls += 1
        return []


async def test_the_stream_ends_with_an_ended_event_once_the_session_is_gone() -> None:
    feed = QuietFeed()
    answers = [True, True, False]

    async def alive() -> bool:
        return answers.pop(0)

    settings = WebSettings(sse_poll_s=0.001)
    chunks = [c async for c in stream(cast(ChangeFeed, feed), settings, alive=alive)]
    assert chunks[0].startswith(b"event: hello\n")
    assert chunks[-1].startswith(b"event: ended\n") and b'"slug":"session_ended"' in chunks[-1]
    assert feed.polls == 2 and not answers  # checked before every poll, none after the end
