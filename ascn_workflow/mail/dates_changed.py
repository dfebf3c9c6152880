"""The "date changed" message: one per person, listing every deadline of theirs a change moved,
with an .ics whose events keep their UID and carry a higher SEQUENCE, so calendars update in place."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..dates import show
from ..planning import Recipient
from ..spec import Definitions, Milestone
from ..store import Deliverable
from .compose import compose
from .render import Rendered

SENDER_NAME = "ASCN Secretariat"


def _ics(
    defs: Definitions,
    now: datetime,
    moves: Sequence[tuple[Deliverable, datetime | None]],
    zone: str,
    milestone: tuple[int, Milestone, int] | None,
    sender: str,
) -> bytes:
    """The moved events, each with the UID and SEQUENCE of calendar_feed.event_identity (the
    same as in `ascn calendar --ics` and the reminders), so calendars update them in place."""
    from ..calendar_feed import calendar_of, deadline_event, event_identity, milestone_event

    events = []
    for row, _old in moves:
        assert row.deadline is not None
        identity = event_identity("deadline", f"{row.id}/{row.stage}", row.version)
        events.append(
            deadline_event(
                uid=identity.uid,
                sequence=identity.sequence,
                deadline=row.deadline,
                zone=zone,
                summary=f"Deadline: {defs.workflow(row.workflow).title} ({row.id})",
                description=f"{row.id} must leave stage {row.stage} by {show(row.deadline, zone)}.",
                now=now,
            )
        )
    if milestone is not None:
        cycle, m, revision = milestone
        identity = event_identity("milestone", f"{cycle}/{m.id}", revision)
        record: dict[str, Any] = {
            "uid": identity.uid,
            "sequence": identity.sequence,
            "first_day": m.start,
            "last_day": m.end,
            "title": m.title,
        }
        events.append(milestone_event(record, now))
    return calendar_of(events, organizer=(SENDER_NAME, sender))


def date_changed_message(
    *,
    defs: Definitions,
    sender: str,
    now: datetime,
    recipient: Recipient,
    subject: str,
    reason: str,
    moves: Sequence[tuple[Deliverable, datetime | None]],
    milestone: tuple[int, Milestone, int] | None,
) -> Rendered:
    zone = recipient.zone
    lines: list[dict[str, Any]] = [
        {
            "id": row.id,
            "title": defs.workflow(row.workflow).title,
            "stage": row.stage,
            "from": show(old, zone) if old else "none",
            "to": show(row.deadline, zone),
        }
        for row, old in moves
    ]
    token = hashlib.sha256(f"{subject}|{reason}|{[(r.id, r.version) for r, _ in moves]}".encode()).hexdigest()[:12]
    message_id = f"<date-changed.{int(now.timestamp())}.{token}.{recipient.email.replace('@', '=')}@ascn-workflow>"
    full_subject = f"[ASCN] Date changed: {subject}"
    text = [
        f"Dear {recipient.name},",
        "",
        f"{subject}. Reason: {reason}",
        "",
        "Your deadlines (your time zone, " + zone + "):",
    ]
    text += [f"- {d['id']} ({d['title']}), stage {d['stage']}: {d['from']} -> {d['to']}" for d in lines]
    text += ["", "The attached calendar file updates the events already in your calendar.", "", SENDER_NAME]
    items = "".join(
        f"<li><strong>{html.escape(d['id'])}</strong> ({html.escape(d['title'])}), stage {html.escape(d['stage'])}: "
        f"{html.escape(d['from'])} &rarr; <strong>{html.escape(d['to'])}</strong></li>"
        for d in lines
    )
    body = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(full_subject)}</title></head>'
        f"<body><p>Dear {html.escape(recipient.name)},</p><p>{html.escape(subject)}. Reason: {html.escape(reason)}</p>"
        f"<p>Your deadlines (your time zone, {html.escape(zone)}):</p><ul>{items}</ul>"
        f"<p>The attached calendar file updates the events already in your calendar.</p><p>{SENDER_NAME}</p></body></html>"
    )
    raw = compose(
        message_id=message_id,
        sender=(SENDER_NAME, sender),
        now=now,
        subject=full_subject,
        to=[(recipient.name, recipient.email)],
        text="\n".join(text),
        html=body,
        calendar=("dates.ics", _ics(defs, now, moves, zone, milestone, sender)),
    )
    return Rendered(message_id, full_subject, raw, [recipient.email])
