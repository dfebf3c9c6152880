"""The year as a calendar: milestones and deliverable deadlines, as rows or an RFC 5545 file.

Every event's identity comes from `event_identity`: UIDs are stable (`milestone/<cycle>/<id>`,
`<deliverable>/<stage>/deadline`, the same in feeds and in the .ics attached to mail), so a newer
file updates events instead of duplicating them, and SEQUENCE rises whenever the thing behind
the event changes (a deliverable's version, a milestone's revision), so a moved date wins.

Forms every client shows on the right day in the reader's zone:
- a milestone is all-day (`VALUE=DATE`, DTEND the day after its last day, RFC 5545 §3.6.1);
- a deadline is a short timed event ending at the deadline's instant, in a named zone with its
  VTIMEZONE, so a reader elsewhere sees it at their own local time of that instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from msgspec import Struct

from . import rfc5545
from .dates import local_midnight, show
from .errors import NotFound

if TYPE_CHECKING:
    from .app import App
    from .people import Grant

PRODID = "-//ASEAN Smart Cities Network//ascn_workflow//EN"
DEADLINE_LEAD = timedelta(minutes=30)  # a deadline event runs from 30 minutes before to the deadline


class EventIdentity(Struct, frozen=True):
    uid: str
    sequence: int


def event_identity(kind: str, key: str, revision: int) -> EventIdentity:
    """The UID and SEQUENCE of one calendar event, wherever it is written (feeds, mail attachments).

    `kind` is "deadline" (`key` = "<deliverable id>/<stage>", `revision` = the deliverable's
    version, which rises with every change to it, a moved deadline included) or "milestone"
    (`key` = "<cycle>/<milestone id>", `revision` = how many times the milestone has been moved).
    The same key always gives the same UID; a later revision never gives a lower SEQUENCE.
    """
    if kind == "deadline":
        return EventIdentity(f"{key}/deadline@ascn-workflow", max(revision, 0))
    if kind == "milestone":
        return EventIdentity(f"milestone/{key}@ascn-workflow", max(revision, 0))
    raise ValueError(f"unknown calendar event kind {kind!r}")


def deadline_uid(deliverable_id: str, stage: str) -> str:
    return event_identity("deadline", f"{deliverable_id}/{stage}", 0).uid


# ---------------------------------------------------------------------------- rows


def entries(
    app: App, cycle: int, now: datetime, email: str | None = None, *, milestones: bool | None = None
) -> list[dict[str, Any]]:
    """Milestones and deadlines, in time order: a person's deadlines only when `email` is given,
    and the milestones unless `email` is given (`milestones` says otherwise: a person's feed
    carries them, so that it is never empty and a subscribed calendar never breaks)."""
    from .views import zone_of

    defs = app.definitions
    calendar = defs.calendar(cycle)
    rows: list[dict[str, Any]] = []
    if milestones if milestones is not None else email is None:
        for m in calendar.milestones.values():
            identity = event_identity("milestone", f"{cycle}/{m.id}", m.revision)  # `calendar set` raises it
            rows.append(
                {
                    "kind": "milestone",
                    "uid": identity.uid,
                    "sequence": identity.sequence,
                    "title": m.title,
                    "id": m.id,
                    "start": local_midnight(m.start, m.zone),
                    "end": local_midnight(m.end + timedelta(days=1), m.zone),
                    "first_day": m.start,
                    "last_day": m.end,
                    "zone": m.zone,
                }
            )
    with app.store.read() as tx:
        actor = tx.actor(email) if email else None
        deliverables = tx.deliverables(cycle=cycle)
    if email and actor is None:
        raise NotFound(f"no person {email!r} in the directory (see `ascn people list`)", person=email)
    for row in deliverables:
        if row.deadline is None:
            continue
        stage = defs.workflow(row.workflow).stage(row.stage)
        if actor is not None and not _responsible(actor.grants, stage.responsible, row.member_state, row.city):
            continue
        identity = event_identity("deadline", f"{row.id}/{row.stage}", row.version)
        rows.append(
            {
                "kind": "deadline",
                "uid": identity.uid,
                "sequence": identity.sequence,
                "title": f"Deadline: {defs.workflow(row.workflow).title} ({row.id})",
                "id": row.id,
                "stage": row.stage,
                "start": row.deadline,
                "end": row.deadline,
                "zone": zone_of(defs, row),
                "overdue": row.deadline < now,
            }
        )
    rows.sort(key=lambda r: (r["start"], r["uid"]))
    return rows


def _responsible(grants: Iterable[Grant], roles: tuple[str, ...], member_state: str | None, city: str | None) -> bool:
    return any(g.role in roles and g.covers(member_state, city) for g in grants)


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hidden = ("first_day", "last_day")
    return [
        {
            **{k: v for k, v in r.items() if k not in hidden},
            "start": show(r["start"], r["zone"]),
            "end": show(r["end"], r["zone"]),
        }
        for r in rows
    ]


# ---------------------------------------------------------------------------- RFC 5545


class Event:
    """One VEVENT, as its content lines (escaped, not yet folded), and the zone its times name
    with a `TZID` (None: dates, or times in UTC), whose VTIMEZONE the calendar must carry."""

    __slots__ = ("lines", "zone")

    def __init__(self, lines: list[str], zone: str | None) -> None:
        self.lines = lines
        self.zone = zone


def milestone_event(row: dict[str, Any], now: datetime) -> Event:
    """An all-day event over the milestone's days (DTEND is exclusive: the day after the last)."""
    lines = [
        f"SUMMARY:{rfc5545.text(row['title'])}",
        f"DTSTART;VALUE=DATE:{rfc5545.day(row['first_day'])}",
        f"DTEND;VALUE=DATE:{rfc5545.day(row['last_day'] + timedelta(days=1))}",
        f"DTSTAMP:{rfc5545.utc(now.astimezone(UTC))}",
        f"UID:{rfc5545.text(row['uid'])}",
        f"SEQUENCE:{int(row['sequence'])}",
        "CATEGORIES:milestone",
        "TRANSP:TRANSPARENT",
    ]
    return Event(lines, None)


def deadline_event(
    *,
    uid: str,
    sequence: int,
    deadline: datetime,
    zone: str,
    summary: str,
    description: str,
    now: datetime,
) -> Event:
    """A short event ending at the deadline, in `zone` (with its VTIMEZONE once added to a calendar).

    Its start is the deadline's wall clock less `DEADLINE_LEAD`, as icalendar wrote it; a zone
    that is UTC (`UTC`, `Etc/UTC`, `GMT`…) is written in the UTC form, with no TZID."""
    end = deadline.astimezone(ZoneInfo(zone))
    start = end - DEADLINE_LEAD
    if _is_utc(zone):
        times = [f"DTSTART:{rfc5545.utc(start)}", f"DTEND:{rfc5545.utc(end)}"]
    else:
        tzid = _tzid(zone)
        times = [f"DTSTART;TZID={tzid}:{rfc5545.local(start)}", f"DTEND;TZID={tzid}:{rfc5545.local(end)}"]
    lines = [
        f"SUMMARY:{rfc5545.text(summary)}",
        *times,
        f"DTSTAMP:{rfc5545.utc(now.astimezone(UTC))}",
        f"UID:{rfc5545.text(uid)}",
        f"SEQUENCE:{int(sequence)}",
        "CATEGORIES:deadline",
        f"DESCRIPTION:{rfc5545.text(description)}",
    ]
    return Event(lines, None if _is_utc(zone) else zone)


def calendar_of(events: list[Event], *, name: str | None = None, organizer: tuple[str, str] | None = None) -> bytes:
    """A VCALENDAR of `events` with the VTIMEZONEs they use. RFC 5545 forbids an empty one.

    With an `organizer` (name, address) it is an iTIP PUBLISH (RFC 5546, for mail), which needs
    the ORGANIZER on each event; without, it is a plain calendar file and carries no METHOD.
    """
    if not events:
        raise NotFound("no events to write: RFC 5545 forbids an empty calendar")
    fold = rfc5545.fold
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{rfc5545.text(PRODID)}", "CALSCALE:GREGORIAN"]
    if organizer is not None:
        head.append("METHOD:PUBLISH")
    if name:
        head.append(f"X-WR-CALNAME:{rfc5545.text(name)}")
    parts = [fold(line) for line in head]
    for zone in sorted({e.zone for e in events if e.zone is not None}):
        parts.append(_vtimezone(zone))
    tail = (
        [f"ORGANIZER;CN={rfc5545.param(organizer[0])}:{rfc5545.uri(f'mailto:{organizer[1]}')}"]
        if organizer is not None
        else []
    )
    for event in events:
        parts.append(b"BEGIN:VEVENT\r\n")
        parts.extend(fold(line) for line in event.lines)
        parts.extend(fold(line) for line in tail)
        parts.append(b"END:VEVENT\r\n")
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


@lru_cache(maxsize=128)
def _is_utc(zone: str) -> bool:
    """Whether icalendar writes this zone's times in the UTC form: `UTC` and the zones it holds
    equivalent (`Etc/UTC`, `GMT`, `Africa/Abidjan`…), as the calendars written before did."""
    from icalendar.timezone.tzid import tzid_from_tzinfo

    return tzid_from_tzinfo(ZoneInfo(zone)) == "UTC"


@lru_cache(maxsize=128)
def _tzid(zone: str) -> str:
    """The TZID parameter: an IANA name never needs quoting, and is written bare as clients expect."""
    if not re.fullmatch(r"[A-Za-z0-9/_+-]+", zone):
        return rfc5545.param(zone)
    return zone


@lru_cache(maxsize=128)
def _vtimezone(tzid: str) -> bytes:
    """The zone's VTIMEZONE as icalendar writes it, built once per process (empty for a zone
    icalendar does not know, which is left out, as its `add_missing_timezones` does).

    icalendar derives a VTIMEZONE by walking the zone's offsets over 1970-2038, about 20 ms a
    zone: once per reminder, that was most of the due pass. A zone's rules do not change while
    the process runs."""
    from icalendar import Timezone

    try:
        return bytes(Timezone.from_tzid(tzid).to_ical())
    except ValueError:
        return b""


def to_ics(rows: list[dict[str, Any]], cycle: int, now: datetime, who: str | None = None) -> bytes:
    if not rows:
        whose = f"{who} is responsible for no deadline" if who else "there is no milestone or deadline"
        raise NotFound(f"{whose} in {cycle}: no calendar file written (RFC 5545 forbids an empty calendar)")
    events = []
    for r in rows:
        if r["kind"] == "milestone":
            events.append(milestone_event(r, now))
        else:
            events.append(
                deadline_event(
                    uid=r["uid"],
                    sequence=r["sequence"],
                    deadline=r["start"],
                    zone=r["zone"],
                    summary=r["title"],
                    description=f"{r['id']} must leave stage {r['stage']} by {show(r['start'], r['zone'])}.",
                    now=now,
                )
            )
    return calendar_of(events, name=f"ASCN {cycle}")
