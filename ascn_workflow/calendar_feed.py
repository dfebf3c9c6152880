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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .dates import local_midnight, show
from .errors import NotFound

if TYPE_CHECKING:
    from .app import App
    from .people import Grant

PRODID = "-//ASEAN Smart Cities Network//ascn_workflow//EN"
DEADLINE_LEAD = timedelta(minutes=30)  # a deadline event runs from 30 minutes before to the deadline


@dataclass(frozen=True)
class EventIdentity:
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


def milestone_event(row: dict[str, Any], now: datetime) -> Any:
    """An all-day event over the milestone's days (DTEND is exclusive: the day after the last)."""
    from icalendar import Event

    event = Event()
    event.add("uid", row["uid"])
    event.add("sequence", row["sequence"])
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", row["first_day"])
    event.add("dtend", row["last_day"] + timedelta(days=1))
    event.add("summary", row["title"])
    event.add("categories", ["milestone"])
    event.add("transp", "TRANSPARENT")
    return event


def deadline_event(
    *,
    uid: str,
    sequence: int,
    deadline: datetime,
    zone: str,
    summary: str,
    description: str,
    now: datetime,
) -> Any:
    """A short event ending at the deadline, in `zone` (with its VTIMEZONE once added to a calendar)."""
    from icalendar import Event

    local = deadline.astimezone(ZoneInfo(zone))
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", local - DEADLINE_LEAD)
    event.add("dtend", local)
    event.add("summary", summary)
    event.add("description", description)
    event.add("categories", ["deadline"])
    return event


def calendar_of(events: list[Any], *, name: str | None = None, organizer: tuple[str, str] | None = None) -> bytes:
    """A VCALENDAR of `events` with the VTIMEZONEs they use. RFC 5545 forbids an empty one.

    With an `organizer` (name, address) it is an iTIP PUBLISH (RFC 5546, for mail), which needs
    the ORGANIZER on each event; without, it is a plain calendar file and carries no METHOD.
    """
    from icalendar import Calendar, vCalAddress

    if not events:
        raise NotFound("no events to write: RFC 5545 forbids an empty calendar")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if organizer is not None:
        cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    for event in events:
        if organizer is not None:
            address = vCalAddress(f"mailto:{organizer[1]}")
            address.params["cn"] = organizer[0]
            event.add("organizer", address)
        cal.add_component(event)
    _add_timezones(cal)
    return bytes(cal.to_ical())


def _add_timezones(cal: Any) -> None:
    """`Calendar.add_missing_timezones`, with each zone's VTIMEZONE built once per process.

    icalendar derives a VTIMEZONE by walking the zone's offsets over 1970-2038, about 20 ms a
    zone: once per reminder, that was most of the due pass. A zone's rules do not change while
    the process runs, and a built component is only read when a calendar is written.
    """
    position = len(cal.timezones)
    for tzid in sorted(cal.get_missing_tzids()):
        timezone = _vtimezone(tzid)
        if timezone is not None:
            cal.subcomponents.insert(position, timezone)
            position += 1


@lru_cache(maxsize=128)
def _vtimezone(tzid: str) -> Any:
    from icalendar import Timezone

    try:
        return Timezone.from_tzid(tzid)
    except ValueError:  # a zone icalendar does not know is left out, as add_missing_timezones does
        return None


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
