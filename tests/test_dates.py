"""Wall times to instants on the standard library's zoneinfo, checked against pendulum.

dates.py does not import pendulum (it costs ~35 ms of every command's start-up); these tests hold
it to pendulum's answers, including the hours that clocks skip or repeat.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pendulum
import pytest

from ascn_workflow.dates import at_local, local_date, local_midnight

ZONES = [
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Manila",
    "Asia/Jakarta",
    "Asia/Makassar",
    "Asia/Yangon",
    "America/New_York",  # clocks skip 02:00-03:00 in March and repeat 01:00-02:00 in November
    "Europe/London",
    "Australia/Lord_Howe",  # a half-hour shift
    "America/Santiago",  # shifts at midnight: some days have no 00:00
]


@pytest.mark.parametrize("zone", ZONES)
def test_every_day_of_2018_resolves_as_pendulum_does(zone: str) -> None:
    day = date(2018, 1, 1)
    while day < date(2019, 1, 1):
        for hour in (0, 1, 2, 3, 9, 23):  # clocks change between 00:00 and 03:00; 09:00 is reminder time
            expected = pendulum.datetime(day.year, day.month, day.day, hour, tz=zone).in_timezone("UTC")
            assert at_local(day, hour, zone) == expected, (zone, day, hour)
        day += timedelta(days=1)


def test_a_skipped_hour_is_pushed_past_the_gap_and_a_repeated_hour_is_its_later_occurrence() -> None:
    assert at_local(date(2018, 3, 11), 2, "America/New_York") == datetime(2018, 3, 11, 7, tzinfo=UTC)
    assert at_local(date(2018, 11, 4), 1, "America/New_York") == datetime(2018, 11, 4, 6, tzinfo=UTC)
    assert at_local(date(2018, 3, 11), 2, "America/New_York").tzinfo is UTC


def test_midnight_and_local_date_in_asean_zones() -> None:
    assert local_midnight(date(2018, 2, 16), "Asia/Bangkok") == datetime(2018, 2, 15, 17, tzinfo=UTC)
    moment = datetime(2018, 2, 15, 17, 30, tzinfo=UTC)
    assert local_date(moment, "Asia/Bangkok") == date(2018, 2, 16)
    assert local_date(moment, "Asia/Yangon") == date(2018, 2, 16)  # +06:30
    assert local_date(moment, "UTC") == date(2018, 2, 15)
    for zone in ZONES:
        assert local_date(moment, zone) == pendulum.instance(moment).in_timezone(zone).date()
