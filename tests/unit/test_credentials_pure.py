"""The pure parts of API keys and usage (issue 18): key and name checks, masks, the month's
bounds, budget states, the usage filters from words, the upstream setting, the bar chart."""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cloudclaude.core import settings
from cloudclaude.core.settings import SettingsError
from cloudclaude.ctl.commands.credentials import parse_tokens, read_key
from cloudclaude.ctl.registry import UsageError
from cloudclaude.domain.credentials import check_key, check_name, hint_of
from cloudclaude.domain.llm_usage import parse_filter, parse_group_by
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.credential_views import budget_view, credential_view
from cloudclaude.model.credentials import (
    BudgetState,
    Credential,
    DailyUserTokens,
    ResolvedKey,
    mask_key,
    month_bounds,
)
from web.pages.bar_chart import OTHERS, PALETTE, daily_bars, series_of, short_tokens
from web.pages.llm_usage import budget_tokens

SVG = "{http://www.w3.org/2000/svg}"
AT = dt.datetime(2030, 12, 31, 23, 59, tzinfo=dt.UTC)
KEY = "sk-ant-api03-abcdefghijklmnop-WXYZ"


@pytest.mark.parametrize("key", [KEY, "x" * 20, "!" * 512])
def test_usable_keys_pass(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["x" * 19, "x" * 513, "sk-ant key-0123456789ab", "sk-ant-\tkey-0123456789", "ключ" * 6]
)
def test_unusable_keys_are_refused_without_being_quoted(key: str) -> None:
    with pytest.raises(CloudClaudeError) as refused:
        check_key(key)
    assert refused.value.error.slug == "api_key_invalid"
    assert key not in str(refused.value.body())


def test_names() -> None:
    assert check_name("team-1.main_key") == "team-1.main_key"
    for bad in ("", "-x", "a b", "x" * 49, "ä"):
        with pytest.raises(CloudClaudeError):
            check_name(bad)
    with pytest.raises(CloudClaudeError):
        check_name("x" * 32, own=True)  # username/ + name stays within 64


def test_masks_show_the_last_four_characters_only() -> None:
    assert hint_of(KEY) == "WXYZ" and mask_key(hint_of(KEY)) == "sk-ant-…WXYZ"
    found = Credential(
        id=uuid.uuid4(), name="team", key_hint="WXYZ", owner_user_id=None, created_at=AT
    )
    assert credential_view(found)["key"] == "sk-ant-…WXYZ" and found.kind == "team"
    resolved = ResolvedKey(credential_id=found.id, name="team", kind="team", secret=KEY)
    assert KEY not in repr(resolved)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (AT, dt.datetime(2030, 12, 1, tzinfo=dt.UTC), dt.datetime(2031, 1, 1, tzinfo=dt.UTC)),
        (
            dt.datetime(2031, 2, 28, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
            dt.datetime(2031, 3, 1, tzinfo=dt.UTC),  # already March in UTC
            dt.datetime(2031, 4, 1, tzinfo=dt.UTC),
        ),
    ],
)
def test_month_bounds_are_utc_calendar_months(
    now: dt.datetime, start: dt.datetime, end: dt.datetime
) -> None:
    assert month_bounds(now) == (start, end)


@pytest.mark.parametrize(
    ("limit", "used", "warning", "exhausted"),
    [
        (None, 10**9, False, False),
        (100, 79, False, False),
        (100, 80, True, False),
        (100, 100, True, True),
        (0, 0, True, True),
    ],
)
def test_budget_states(limit: int | None, used: int, warning: bool, exhausted: bool) -> None:
    state = BudgetState(limit_tokens=limit, used_tokens=used, resets_at=AT)
    assert (state.warning, state.exhausted) == (warning, exhausted)
    view = budget_view(state)
    assert view["remaining_tokens"] == (None if limit is None else max(0, limit - used))


def test_usage_filters_from_words() -> None:
    uid = uuid.uuid4()
    where = parse_filter(user=str(uid), host="abcd2345", since="2030-01-01", until="2030-01-31")
    assert where.user_id == uid and where.username is None and where.host_short_id == "abcd2345"
    assert where.since == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert where.until == dt.datetime(2030, 2, 1, tzinfo=dt.UTC)  # a bare date: that whole day
    timed = parse_filter(user="alice", until="2030-01-31T12:00:00Z")
    assert timed.username == "alice" and timed.until == dt.datetime(2030, 1, 31, 12, tzinfo=dt.UTC)
    for kwargs in ({"since": "soon"}, {"since": "2030-02-01", "until": "2030-01-01"}):
        with pytest.raises(CloudClaudeError) as bad:
            parse_filter(**kwargs)
        assert bad.value.error.slug == "bad_query"
    assert parse_group_by(None) == "day" and parse_group_by("model") == "model"
    with pytest.raises(CloudClaudeError):
        parse_group_by("week")


def test_token_counts_in_words() -> None:
    assert parse_tokens("1_000") == 1000 and parse_tokens("2,500") == 2500
    assert parse_tokens("None") is None
    assert budget_tokens("") is None and budget_tokens("1,000,000") == 10**6
    with pytest.raises(CloudClaudeError):
        parse_tokens("lots")
    with pytest.raises(CloudClaudeError):
        budget_tokens("1.5")
    assert short_tokens(950) == "950" and short_tokens(1234) == "1.2k"
    assert short_tokens(12_345_678) == "12M"


def test_a_key_is_read_from_a_file_and_never_empty(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(f"  {KEY}\n")
    assert read_key(str(path)) == KEY
    path.write_text("\n")
    with pytest.raises(UsageError):
        read_key(str(path))
    with pytest.raises(UsageError):
        read_key(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "value",
    ["https://api.anthropic.com", "http://198.18.0.9:8080/", "https://[::1]:8443"],
)
def test_upstream_origins_are_accepted(value: str) -> None:
    env = {"CLOUDCLAUDE_CREDENTIALS__ANTHROPIC_UPSTREAM": value}
    assert settings.load(None, environ=env).credentials.anthropic_upstream == value


@pytest.mark.parametrize(
    "value",
    [
        "ftp://api.anthropic.com",
        "https://api.anthropic.com/v1",
        "https://api.anthropic.com?x=1",
        "https://user:pw@api.anthropic.com",
        "https://api.anthropic.com#frag",
        "https://api.anthropic.com:99999",
        "api.anthropic.com",
    ],
)
def test_bad_upstreams_are_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="anthropic_upstream"):
        settings.load(None, environ={"CLOUDCLAUDE_CREDENTIALS__ANTHROPIC_UPSTREAM": value})


def test_the_default_budget_is_not_negative() -> None:
    env = {"CLOUDCLAUDE_CREDENTIALS__DEFAULT_MONTHLY_TOKENS": "-1"}
    with pytest.raises(SettingsError, match="default_monthly_tokens"):
        settings.load(None, environ=env)


def point(day: int, user: str, tokens: int) -> DailyUserTokens:
    return DailyUserTokens(day=dt.date(2030, 1, day), username=user, tokens=tokens)


def test_the_bar_chart_stacks_each_users_tokens_per_day() -> None:
    points = [point(1, "ann", 100), point(1, "bo", 300), point(3, "ann", 50), point(9, "ann", 7)]
    svg, series = daily_bars(
        points, start=dt.date(2030, 1, 1), end=dt.date(2030, 1, 4), label="a <chart>"
    )
    root = ET.fromstring(str(svg))  # noqa: S314 (markup this module made)
    assert root.find(f"{SVG}title").text == "a <chart>"  # type: ignore[union-attr]
    rects = root.findall(f"{SVG}rect")
    assert len(rects) == 3  # day 9 is outside the window; days 2 and 4 have nothing
    tips = sorted(r.find(f"{SVG}title").text or "" for r in rects)  # type: ignore[union-attr]
    assert tips == [
        "ann, 2030-01-01: 100 tokens",
        "ann, 2030-01-03: 50 tokens",
        "bo, 2030-01-01: 300 tokens",
    ]
    heights = {r.find(f"{SVG}title").text: float(r.attrib["height"]) for r in rects}  # type: ignore[union-attr]
    assert heights["bo, 2030-01-01: 300 tokens"] == pytest.approx(
        3 * heights["ann, 2030-01-01: 100 tokens"], rel=0.01
    )
    assert [s.username for s in series] == ["bo", "ann"]  # most tokens first


def test_an_empty_chart_keeps_its_size_and_many_users_share_a_colour() -> None:
    svg, series = daily_bars([], start=dt.date(2030, 1, 1), end=dt.date(2030, 1, 1), label="x")
    root = ET.fromstring(str(svg))  # noqa: S314
    assert root.attrib["width"] and not root.findall(f"{SVG}rect") and series == []
    many = [point(1, f"user{i:02}", 100 - i) for i in range(len(PALETTE) + 3)]
    named = series_of(many)
    assert len(named) == len(PALETTE) and named[-1].username == OTHERS
    assert named[-1].tokens == sum(100 - i for i in range(len(PALETTE) - 1, len(PALETTE) + 3))
