"""Pure checks of what browsers and clients send: the sign-in ``next`` and numbers."""

from __future__ import annotations

import pytest

from cloudclaude.errors import CloudClaudeError
from web.api.common import finite_number
from web.pages.auth import MAX_NEXT, safe_next


@pytest.mark.parametrize(
    "target", ["/", "/me", "/me/keys?x=1&y=%2F%2Fz", "/admin/hosts/abc#top", "/a//b"]
)
def test_same_site_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "",
        "me",
        "//evil.example",
        "///evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/x\\y",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/me\x00",
        "/me\x1b",
        "/me\x7f",
        "/me with space",
        "/ünicode",
        "/\u3002evil",
        "/" + "a" * MAX_NEXT,
    ],
)
def test_anything_else_falls_back(target: str) -> None:
    assert safe_next(target) == ""


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("2.5", 2.5), ("-1e3", -1000.0)])
def test_finite_numbers_are_read(text: str, value: float) -> None:
    assert finite_number(text, "n") == value


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan", "inf", "-Infinity", "1e999", "x", ""])
def test_non_finite_or_no_numbers_are_bad_requests(text: str) -> None:
    with pytest.raises(CloudClaudeError) as caught:
        finite_number(text, "n")
    assert caught.value.error.slug == "bad_query"
