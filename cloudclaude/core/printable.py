"""Showing text from untrusted peers: control characters become visible escapes.

A username from a failed sign-in, a key comment or a box's log line can hold ESC (terminal
escape sequences), CR (overwrites what was printed), NUL or bidi overrides (reorders what is
shown). ``cloudclaudectl`` and the pages print such text through ``escape_controls`` so a
reader always sees what was stored, e.g. ``\\x1b`` instead of a colour change.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories shown escaped: controls (C0, DEL, C1), format characters (bidi
#: overrides and isolates, zero-width characters), line/paragraph separators, lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with every control or invisible format character written as ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``; characters in ``keep`` (e.g. newline in a page's
    ``<pre>``) are left as they are."""
    if text.isprintable():
        return text  # the common case (isprintable is false for every category escaped here)
    return "".join(
        _escape(c) if c not in keep and unicodedata.category(c) in _HIDDEN_CATEGORIES else c
        for c in text
    )
