"""Messages as the recipients see them: plain text and HTML from jinja2 templates, plus an .ics.

The MIME message itself is assembled by `compose.compose`, which builds every address header
structurally: a display name such as `Jösé, evil@attacker.example` is always quoted (or
RFC 2047-encoded as one phrase) and can never read as a second recipient.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from msgspec import Struct

from ..dates import local_date, show
from ..planning import Recipient
from .compose import compose

SENDER_NAME = "ASCN Secretariat"

ROLE_TITLES = {
    "asec": "ASEC officer",
    "shepherd": "ASCN shepherd",
    "chair": "Chair of the ASCN",
    "focal_point": "focal point",
    "nr": "National Representative",
    "csco": "Chief Smart City Officer",
}


class Rendered(Struct, frozen=True):
    message_id: str
    subject: str
    raw: str
    recipients: list[str]


@lru_cache(maxsize=1)
def _env():  # type: ignore[no-untyped-def]
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        # Templates are named `*.html.j2`: the rule must match that whole ending, or nothing is escaped.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # compiled once per process: no stat of the template file per message
    )


def _person(r: Recipient, deadline: datetime | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {
        "name": r.name,
        "email": r.email,
        "zone": r.zone,
        "role_title": ROLE_TITLES.get(r.role, r.role),
    }
    if deadline is not None:
        person["deadline_local"] = show(deadline, r.zone)
    return person


def days_until(deadline: datetime, now: datetime, zone: str) -> int:
    """Whole days from the day `now` falls on to the deadline's day, both in `zone` (the reader's)."""
    return (local_date(deadline, zone) - local_date(now, zone)).days


def deadline_ics(deliverable: dict[str, Any], deadline: datetime, zone: str, now: datetime, sender: str) -> bytes:
    """The deadline as an iTIP PUBLISH: stable UID, SEQUENCE from the deliverable's version."""
    return _deadline_ics(
        deliverable["id"],
        deliverable["stage"],
        deliverable.get("version", 0),
        deliverable["title"],
        deadline,
        zone,
        now,
        sender,
    )


@lru_cache(maxsize=256)
def _deadline_ics(
    deliverable_id: str, stage: str, version: int, title: str, deadline: datetime, zone: str, now: datetime, sender: str
) -> bytes:
    """Made once for everyone who gets the same file: the recipients of one deliverable who share
    a zone (a pass sends them at the same `now`). The key holds everything the file says."""
    from ..calendar_feed import calendar_of, deadline_event, event_identity

    identity = event_identity("deadline", f"{deliverable_id}/{stage}", version)
    event = deadline_event(
        uid=identity.uid,
        sequence=identity.sequence,
        deadline=deadline,
        zone=zone,
        summary=f"Deadline: {title} ({deliverable_id})",
        description=f"{deliverable_id} must leave stage {stage} by {show(deadline, zone)}.",
        now=now,
    )
    return calendar_of([event], organizer=(SENDER_NAME, sender))


def _message(
    message_id: str,
    sender: str,
    now: datetime,
    subject: str,
    to: Sequence[Recipient],
    cc: Sequence[Recipient],
    text: str,
    html: str,
    ics: bytes | None,
) -> Rendered:
    raw = compose(
        message_id=message_id,
        sender=(SENDER_NAME, sender),
        now=now,
        subject=subject,
        to=[(r.name, r.email) for r in to],
        cc=[(r.name, r.email) for r in cc],
        text=text,
        html=html,
        calendar=("deadline.ics", ics) if ics is not None else None,
    )
    recipients = list(dict.fromkeys(r.email for r in (*to, *cc)))
    return Rendered(message_id, subject, raw, recipients)


def reminder_message(
    *,
    message_id: str,
    sender: str,
    now: datetime,
    deliverable: dict[str, Any],
    recipient: Recipient,
    deadline: datetime,
    host_zone: str,
    expected: list[dict[str, str]],
) -> Rendered:
    context = {
        "deliverable": deliverable,
        "recipient": _person(recipient),
        "deadline_local": show(deadline, recipient.zone),
        "deadline_host": show(deadline, host_zone),
        "host_zone": host_zone,
        "days_left": days_until(deadline, now, recipient.zone),
        "expected": expected,
    }
    local_day = show(deadline, recipient.zone)[:10]  # type: ignore[index]
    subject = f"[ASCN] Reminder: {deliverable['id']} — {deliverable['title']} — due {local_day}"
    env = _env()
    return _message(
        message_id,
        sender,
        now,
        subject,
        [recipient],
        [],
        env.get_template("reminder.txt.j2").render(context),
        env.get_template("reminder.html.j2").render(context, subject=subject),
        deadline_ics(deliverable, deadline, recipient.zone, now, sender),
    )


def overdue_message(
    *,
    message_id: str,
    sender: str,
    now: datetime,
    deliverable: dict[str, Any],
    deadline: datetime,
    host_zone: str,
    responsible: list[Recipient],
    escalation: list[Recipient],
    expected: list[dict[str, str]],
    lapsed: bool,
    deadline_stage: str | None = None,
) -> Rendered:
    """`deadline_stage`: the stage whose deadline passed, when a lapse has left it (the .ics's UID)."""
    context = {
        "deliverable": deliverable,
        "deadline_host": show(deadline, host_zone),
        "host_zone": host_zone,
        "responsible": [_person(r, deadline) for r in responsible],
        "escalation": [_person(r, deadline) for r in escalation],
        "expected": expected,
        "lapsed": lapsed,
    }
    subject = f"[ASCN] OVERDUE: {deliverable['id']} — {deliverable['title']}"
    env = _env()
    to = responsible or escalation
    cc = [r for r in escalation if r not in to]
    return _message(
        message_id,
        sender,
        now,
        subject,
        to,
        cc,
        env.get_template("overdue.txt.j2").render(context),
        env.get_template("overdue.html.j2").render(context, subject=subject),
        deadline_ics(
            {**deliverable, "stage": deadline_stage or deliverable["stage"]}, deadline, host_zone, now, sender
        ),
    )
