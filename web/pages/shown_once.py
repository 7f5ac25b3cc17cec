"""Secrets a form shows once (a generated password), carried from its POST to the GET after.

Forms whose answer shows a secret are POST-redirect-GET like every other form, so a reload
never repeats them (a second user, another rotation). The POST keeps what to show in this
small store, in the daemon's memory, tied to the signed-in session, and redirects to the page
with a random handle (``?shown=<handle>``); the GET takes the entry out and shows it. So the
secret is shown once and then gone: a reload, the back button, another session or a copy of
the address finds nothing. The secret itself is never in a URL and never logged (entries have
no repr of their values). Entries expire after ``TTL_S``; the store holds at most
``MAX_ENTRIES`` and drops the oldest first, so it is bounded whatever the traffic.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlencode

import attrs
from quart import after_this_request, current_app, redirect, request
from werkzeug.sansio.response import Response

from web.api.common import current_session

#: How long a secret waits for the GET that shows it.
TTL_S = 120.0
#: The most secrets waiting at once (the oldest go first).
MAX_ENTRIES = 512
#: The query parameter that carries the handle.
PARAM = "shown"
_EXTENSION = "cloudclaude.shown_once"
R = TypeVar("R", bound=Response)


@attrs.frozen(kw_only=True)
class _Entry:
    session_id: uuid.UUID
    #: Which page shows it: a handle for one page shows nothing on another.
    kind: str
    values: Mapping[str, str] = attrs.field(repr=False)
    expires: float


class ShownOnce:
    """The store: ``put`` an entry for a session, ``take`` it once with the same session."""

    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, session_id: uuid.UUID, kind: str, values: Mapping[str, str]) -> str:
        """Keep ``values`` for ``session_id``'s next GET of the ``kind`` page; its handle."""
        now = self._clock()
        self._drop_expired(now)
        while len(self._entries) >= self._max:
            self._entries.popitem(last=False)
        handle = secrets.token_urlsafe(18)
        self._entries[handle] = _Entry(
            session_id=session_id, kind=kind, values=dict(values), expires=now + self._ttl_s
        )
        return handle

    def take(self, handle: str, session_id: uuid.UUID, kind: str) -> dict[str, str] | None:
        """The values, once: later calls (and other sessions or pages) get None."""
        self._drop_expired(self._clock())
        entry = self._entries.get(handle)
        if entry is None or entry.session_id != session_id or entry.kind != kind:
            return None  # another session's handle is left alone: it cannot spend it
        del self._entries[handle]
        return dict(entry.values)

    def _drop_expired(self, now: float) -> None:
        # Entries are in insertion order with one TTL, so the expired ones come first.
        while self._entries:
            handle, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                return
            del self._entries[handle]


def store() -> ShownOnce:
    """This app's store (one per daemon)."""
    found = current_app.extensions.get(_EXTENSION)
    if not isinstance(found, ShownOnce):
        found = current_app.extensions[_EXTENSION] = ShownOnce()
    return found


def redirect_showing(
    path: str, kind: str, values: Mapping[str, str], *, anchor: str = ""
) -> Response:
    """Redirect (303) to ``path`` (at ``#anchor``), whose GET shows ``values`` once (see
    ``take_shown``)."""
    handle = store().put(current_session().session.id, kind, values)
    return redirect(f"{path}?{urlencode({PARAM: handle})}{'#' + anchor if anchor else ''}", 303)


def take_shown(kind: str) -> dict[str, str] | None:
    """What the POST before this GET left to show on the ``kind`` page, once; else None.

    The answer that shows it is kept by no cache, so "back" cannot show it again."""
    handle = request.args.get(PARAM, "")
    if not handle or len(handle) > 64:
        return None
    values = store().take(handle, current_session().session.id, kind)
    if values is not None:
        after_this_request(_no_store)
    return values


async def _no_store(response: R) -> R:
    response.headers["Cache-Control"] = "no-store"
    return response


def showing() -> bool:
    """This GET carries a handle: it is the page after a POST, not a live refresh of it."""
    return PARAM in request.args
