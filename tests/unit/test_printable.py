"""Text from untrusted peers is printed with control characters escaped: the helper, the
pages' Jinja ``finalize``, and ``cloudclaudectl audit tail``'s printer."""

from __future__ import annotations

import pytest
from jinja2 import Environment
from markupsafe import Markup

from cloudclaude.core.printable import escape_controls
from cloudclaude.ctl.commands.daemon import print_event
from web.pages.filters import show_controls


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("alice", "alice"),
        ("zoë 日本", "zoë 日本"),
        ("a\x1b[31mred", "a\\x1b[31mred"),
        ("over\rwrite", "over\\x0dwrite"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("\u202egnp.exe", "\\u202egnp.exe"),
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028sep", "line\\u2028sep"),
        ("two\nlines\tand tab", "two\\x0alines\\x09and tab"),
        ("tag\U000e0041", "tag\\U000e0041"),
    ],
)
def test_controls_are_escaped(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_kept_characters_stay() -> None:
    assert escape_controls("a\nb\tc\rd", keep="\n\t") == "a\nb\tc\\x0dd"


def test_pages_escape_controls_but_keep_newlines_and_markup() -> None:
    env = Environment(autoescape=True, finalize=show_controls)
    page = env.from_string("{{ name }}|{{ log }}|{{ safe }}|{{ n }}")
    text = page.render(name="<b>\x1b[0m</b>", log="one\ntwo", safe=Markup("<i>\x1b</i>"), n=3)
    assert text == "&lt;b&gt;\\x1b[0m&lt;/b&gt;|one\ntwo|<i>\x1b</i>|3"


def test_audit_tail_escapes_a_hostile_username(capsys: pytest.CaptureFixture[str]) -> None:
    print_event(
        {
            "at": "2026-01-01T00:00:00Z",
            "type": "auth.failed",
            "actor": "anonymous\x1b]0;x\x07",
            "metadata": {"username": "root\x1b[2J\r\u202e", "reason": "unknown_user"},
        }
    )
    out = capsys.readouterr().out
    assert "username=root\\x1b[2J\\x0d\\u202e" in out and "anonymous\\x1b]0;x\\x07" in out
    assert not any(c in out[:-1] for c in "\x1b\r\x07\u202e\n")
    assert out.endswith("\n")
