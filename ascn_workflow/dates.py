"""Instants, milestones and zones. Every instant leaves here as an aware UTC datetime.

Nothing reads the clock: callers pass `now` in (the CLI takes it from `$ASCN_NOW` or the clock).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from .errors import BadInput
from .spec import Milestone

UTC = UTC
FIRST_YEAR, LAST_YEAR = 1970, 2999  # instants a governance calendar can mean; every zone can show them


def parse_instant(text: str, what: str = "instant") -> datetime:
    """An ISO 8601 instant with an offset (or `Z`) as UTC; anything else is bad input.

    An instant without an offset is refused rather than guessed: officers work in ten zones.
    """
    cleaned = text.strip()
    if "T" not in cleaned and " " not in cleaned:
        raise BadInput(f"{what} {text!r} is not an instant: give a time and an offset, e.g. 2018-02-20T09:00+08:00")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise BadInput(f"{what} {text!r} is not an ISO 8601 instant, e.g. 2018-02-20T09:00+08:00") from None
    if parsed.tzinfo is None:
        raise BadInput(f"{what} {text!r} has no UTC offset: add one, e.g. {text}+08:00 or {text}Z")
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:  # year 1 or 9999 would overflow in some zone
        raise BadInput(f"{what} {text!r} is out of range: give a year from {FIRST_YEAR} to {LAST_YEAR}")
    return utc(parsed)


def parse_day(text: str, what: str) -> date:
    """An ISO 8601 date (the whole day in some zone), within the years an instant may have."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{what} {text!r} is not a date, e.g. 2018-05-29") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:  # 0001-01-01 or 9999-12-31 overflow in some zone
        raise BadInput(f"{what} {text!r} is out of range: give a year from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def utc(moment: datetime) -> datetime:
    """The same instant as a plain aware datetime in UTC (what the store keeps)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached the core")
    if type(moment) is datetime and moment.tzinfo is UTC and not moment.fold:
        return moment  # one already (`now` as the CLI passes it): the store encodes the same object once
    converted = moment.astimezone(UTC)
    return datetime(
        converted.year,
        converted.month,
        converted.day,
        converted.hour,
        converted.minute,
        converted.second,
        converted.microsecond,
        tzinfo=UTC,
    )


@cache
def _zone(key: str) -> ZoneInfo:
    """ZoneInfo keeps only the last 8 zones it made; the network has more, and `status` asks per row."""
    return ZoneInfo(key)


def at_local(day: date, hour: int, zone: str) -> datetime:
    """The instant it is `hour`:00 on `day` in `zone`, as pendulum resolves wall times: an ambiguous
    time (clocks going back) is its later occurrence, a time that does not exist (clocks going
    forward) is pushed past the gap. tests/test_dates.py checks this against pendulum."""
    tz = _zone(zone)
    wall = datetime(day.year, day.month, day.day, hour)
    moment = wall.replace(tzinfo=tz, fold=1)
    if moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:  # in a gap
        moment = wall.replace(tzinfo=tz)
    return utc(moment)


def local_midnight(day: date, zone: str) -> datetime:
    return at_local(day, 0, zone)


def milestone_start(milestone: Milestone) -> datetime:
    """The instant a milestone begins: 00:00 of its first day in its zone."""
    return local_midnight(milestone.start, milestone.zone)


def milestone_deadline(milestone: Milestone) -> datetime:
    """The instant a milestone's deadline passes: the end (23:59:59) of its last day in its zone."""
    return local_midnight(milestone.end + timedelta(days=1), milestone.zone) - timedelta(seconds=1)


def show(moment: datetime | None, zone: str = "UTC") -> str | None:
    """ISO 8601 with the offset of `zone`, to the second (zoneinfo: this runs for every row shown)."""
    global _shown
    if moment is None:
        return None
    last, last_zone, text = _shown
    if moment is not last or zone != last_zone:  # an advance shows one instant three times (issue 15)
        text = moment.astimezone(_zone(zone)).isoformat(timespec="seconds")
        _shown = (moment, zone, text)
    return text


_shown: tuple[datetime | None, str, str] = (None, "", "")  # the last instant `show` wrote (datetimes are immutable)


def local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(_zone(zone)).date()
