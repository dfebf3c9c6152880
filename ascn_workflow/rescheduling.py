"""Moving dates: a milestone's new days, and what a moved deadline does to its reminders. Pure.

A calendar change (`ascn calendar set`) or an extension (`ascn extend`) gives a deliverable a new
deadline. Its reminders are planned again under the usual rules (09:00 local, working days, see
`planning`), except that a reminder already sent for the same stage entry is never sent again and
none is planned for an instant already past. The service layer feeds this module what it read and
writes what it returns; nothing here reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from msgspec import Struct
from msgspec.structs import replace

from .dates import milestone_deadline, parse_day, parse_instant
from .definitions import valid_zone
from .errors import BadInput
from .planning import PlannedReminder, Recipient, plan_reminders
from .spec import Milestone


def moved(old: Milestone, start: date, end: date | None, zone: str | None) -> Milestone:
    """The milestone on its new days. A DATE alone is the whole day; a multi-day milestone keeps
    its length when only the start is given (the SCGW moved a week stays four days long)."""
    if zone is not None and not valid_zone(zone):
        raise BadInput(f"--zone {zone!r} is not an IANA time zone, e.g. Asia/Singapore")
    last = end if end is not None else start + (old.end - old.start)
    if last < start:
        raise BadInput(f"--end {last} is before the start {start}")
    return replace(old, start=start, end=last, zone=zone or old.zone)


def new_deadline(text: str, zone: str) -> datetime:
    """`--to` of an extension: an instant with an offset, or a DATE meaning the end of that day in `zone`."""
    if "T" in text or " " in text.strip():
        return parse_instant(text, "--to")
    day = parse_day(text, "--to")
    return milestone_deadline(Milestone("extension", "extension", day, day, zone))


class Existing(Struct, frozen=True):
    """A reminder already stored for the current stage entry (any version since the stage was entered)."""

    recipient: str
    offset_days: int
    due_at: datetime
    status: str  # planned | sent | cancelled | skipped


class ReminderPlan(Struct, frozen=True):
    cancelled: tuple[Existing, ...]  # planned before, no longer (replaced or past)
    planned: tuple[PlannedReminder, ...]  # to store under the new version
    already_sent: tuple[Existing, ...]  # sent for this stage entry: never sent again


def replan(
    existing: Iterable[Existing],
    recipients: Sequence[Recipient],
    offsets_days: Sequence[int],
    local_hour: int,
    deadline: datetime,
    now: datetime,
) -> ReminderPlan:
    """The reminders of a moved deadline. Every planned reminder is cancelled and planned again for
    the new date (a new SEQUENCE, a new due time); a (recipient, offset) already sent is not."""
    stored = list(existing)
    sent = tuple(e for e in stored if e.status == "sent")
    done = {(e.recipient, e.offset_days) for e in sent}
    planned = tuple(
        p
        for p in plan_reminders(deadline, recipients, offsets_days, local_hour)
        if p.due_at > now and (p.recipient.email, p.offset_days) not in done
    )
    cancelled = tuple(e for e in stored if e.status == "planned")
    return ReminderPlan(cancelled, planned, sent)
