"""A host's time zone is a name of the tz database, or the host is refused (422)."""

from __future__ import annotations

import pytest

from cloudclaude.core.timefmt import known_timezones
from cloudclaude.domain.host_specs import check_timezone
from cloudclaude.errors import CloudClaudeError


@pytest.mark.parametrize(
    "zone", ["UTC", "Etc/UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]
)
def test_tz_database_names_are_taken(zone: str) -> None:
    check_timezone(zone)


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "Europe/Atlantis", "europe/berlin", "localtime", "posixrules"]
)
def test_well_formed_names_outside_the_tz_database_are_refused(zone: str) -> None:
    with pytest.raises(CloudClaudeError) as refused:
        check_timezone(zone)
    assert refused.value.error.slug == "validation_failed"
    assert refused.value.http_status == 422
    detail = refused.value.detail or ""
    assert detail.startswith(f"timezone '{zone}' is not in the tz database")
    assert "Europe/Berlin" in detail  # an example of a good one


@pytest.mark.parametrize(
    "zone", ["../../etc/shadow", "Europe/../UTC", "/UTC", "Europe/Berlin;rm", "", "a" * 65]
)
def test_path_tricks_are_refused_before_any_lookup(zone: str) -> None:
    with pytest.raises(CloudClaudeError) as refused:
        check_timezone(zone)
    assert "tz database" in (refused.value.detail or "")


def test_the_zone_list_is_read_once() -> None:
    assert known_timezones() is known_timezones()
    assert "Europe/Berlin" in known_timezones() and "localtime" not in known_timezones()


def test_a_default_time_zone_outside_the_tz_database_is_a_settings_error() -> None:
    from cloudclaude.core.settings import HostDefaults, SettingsError

    assert HostDefaults(timezone="Europe/Berlin").timezone == "Europe/Berlin"
    with pytest.raises(SettingsError, match="tz database"):
        HostDefaults(timezone="Mars/Olympus")
