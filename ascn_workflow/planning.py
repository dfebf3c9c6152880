"""When reminders fall due: pure date arithmetic over zones, weekends and public holidays.

A reminder is due at `local_hour` (09:00) in the recipient's own zone, `offset` days before the
deadline's date in that zone, moved back to the previous working day of the recipient's member
state when that day is a weekend or a public holiday (the `holidays` package).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

from msgspec import Struct

from .dates import at_local, local_date


class Recipient(Struct, frozen=True):
    email: str
    name: str
    role: str
    zone: str
    country: str  # ISO code of the member state whose holidays apply


class PlannedReminder(Struct, frozen=True):
    recipient: Recipient
    offset_days: int
    due_at: datetime
    deadline: datetime


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year))


def is_working_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def previous_working_day(day: date, country: str) -> date:
    """`day` itself if it is a working day, else the last working day before it."""
    while not is_working_day(day, country):
        day -= timedelta(days=1)
    return day


def plan_reminders(
    deadline: datetime, recipients: Iterable[Recipient], offsets_days: Sequence[int], local_hour: int
) -> list[PlannedReminder]:
    planned = []
    for recipient in recipients:
        deadline_day = local_date(deadline, recipient.zone)
        for offset in sorted(set(offsets_days), reverse=True):
            day = previous_working_day(deadline_day - timedelta(days=offset), recipient.country)
            due = at_local(day, local_hour, recipient.zone)
            if due < deadline:
                planned.append(PlannedReminder(recipient, offset, due, deadline))
    return planned
