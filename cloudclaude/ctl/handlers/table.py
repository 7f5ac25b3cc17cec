"""The dispatch table: each declared request class → the one handler that answers it.

Handlers attach with ``@handles(RequestClass)``; what a handler returns is the ``ok`` reply,
and a streaming one sends its items first with ``Context.event``. Which class is which op,
and how it parses and prints, is the client-safe registry's (``ctl.registry``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core.timefmt import parse_when
from cloudclaude.ctl.messages import Reply
from cloudclaude.ctl.registry import Request
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.audit import Actor

R = TypeVar("R", bound=Request)
Send = Callable[[Reply], Awaitable[None]]


@attrs.frozen(kw_only=True)
class Context:
    """One connection's caller, the daemon's services, and its reply channel."""

    services: Services
    actor: Actor
    stopping: trio.Event
    send: Send

    async def event(self, data: Any) -> None:
        """Stream one item before the final reply."""
        await self.send(Reply(kind="event", data=data))


Handler = Callable[[R, Context], Awaitable[Any]]


class HandlerTable:
    """Handlers by request class; a class handled twice is refused at import."""

    def __init__(self) -> None:
        self._handlers: dict[type[Request], Handler[Any]] = {}

    @property
    def messages(self) -> frozenset[type[Request]]:
        return frozenset(self._handlers)

    def handles(self, message: type[R]) -> Callable[[Handler[R]], Handler[R]]:
        def attach(handler: Handler[R]) -> Handler[R]:
            if message in self._handlers:
                raise ValueError(f"{message.__name__} has two handlers")
            self._handlers[message] = handler
            return handler

        return attach

    async def dispatch(self, request: Request, ctx: Context) -> None:
        """Run ``request``'s handler and send what it returns as the ``ok`` reply."""
        data = await self._handlers[type(request)](request, ctx)
        await ctx.send(Reply(kind="ok", data=data))


#: The daemon's handlers, filled by the modules of ``cloudclaude.ctl.handlers``.
HANDLERS = HandlerTable()
handles = HANDLERS.handles


def check_paging(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000 or offset < 0:
        raise CloudClaudeError(system.VALIDATION_FAILED, "limit must be 1..1000, offset >= 0")


def when(text: str | None) -> dt.datetime | None:
    """An ``expires_at`` given as text (None stays None)."""
    return None if text is None else parse_when(text, "expires_at")
