"""The year as a calendar: milestones and deliverable deadlines, as rows or an RFC 5545 file.

UIDs are stable (`milestone/<cycle>/<id>`, `<deliverable>/<stage>/deadline`, the same as the
.ics attached to reminders), so importing a newer export updates events instead of duplicating them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .app import App
from .dates import local_midnight, show
from .errors import NotFound
from .mail.render import deadline_uid
from .people import Grant
from .store import Deliverable
from .views import zone_of


def entries(app: App, cycle: int, now: datetime, email: str | None = None) -> list[dict[str, Any]]:
    """Milestones (unless `email` is given) and deadlines, in time order."""
    defs = app.definitions
    calendar = defs.calendar(cycle)
    rows: list[dict[str, Any]] = []
    if email is None:
        for m in calendar.milestones.values():
            start, end = local_midnight(m.start, m.zone), local_midnight(m.end + timedelta(days=1), m.zone)
            rows.append(
                {
                    "kind": "milestone",
                    "uid": f"milestone/{cycle}/{m.id}@ascn-workflow",
                    "sequence": m.revision,  # rises each time `calendar set` moves it
                    "title": m.title,
                    "id": m.id,
                    "start": start,
                    "end": end,
                    "zone": m.zone,
                }
            )
    with app.store.read() as tx:
        actor = tx.actor(email) if email else None
        deliverables = tx.deliverables(cycle=cycle)
    if email and actor is None:
        raise NotFound(f"no person {email!r} in the directory", person=email)
    for row in deliverables:
        if row.deadline is None:
            continue
        stage = defs.workflow(row.workflow).stage(row.stage)
        if actor is not None and not _responsible(actor.grants, stage.responsible, row):
            continue
        zone = zone_of(defs, row)
        rows.append(
            {
                "kind": "deadline",
                "uid": deadline_uid(row.id, row.stage),
                "sequence": row.version,  # rises with every change to the deliverable, a moved deadline included
                "title": f"Deadline: {defs.workflow(row.workflow).title} ({row.id})",
                "id": row.id,
                "stage": row.stage,
                "start": row.deadline,
                "end": row.deadline,
                "zone": zone,
                "overdue": row.deadline < now,
            }
        )
    rows.sort(key=lambda r: (r["start"], r["uid"]))
    return rows


def _responsible(grants: tuple[Grant, ...], roles: tuple[str, ...], row: Deliverable) -> bool:
    return any(g.role in roles and g.covers(row.member_state, row.city) for g in grants)


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "start": show(r["start"], r["zone"]), "end": show(r["end"], r["zone"])} for r in rows]


def to_ics(rows: list[dict[str, Any]], cycle: int, now: datetime) -> bytes:
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//ASEAN Smart Cities Network//ascn_workflow//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"ASCN {cycle}")
    for r in rows:
        zone = ZoneInfo(r["zone"])
        event = Event()
        event.add("uid", r["uid"])
        event.add("sequence", r["sequence"])
        event.add("dtstamp", now)
        event.add("dtstart", r["start"].astimezone(zone))
        event.add("dtend", r["end"].astimezone(zone))
        event.add("summary", r["title"])
        event.add("categories", [r["kind"]])
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
