"""Messages as the recipients see them: plain text and HTML from jinja2 templates, plus an .ics.

Every address header is built from `email.headerregistry.Address` objects, never by joining
strings: a display name such as `Jösé, evil@attacker.example` is then always quoted (or
RFC 2047-encoded as one phrase) and can never read as a second recipient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..dates import show
from ..planning import Recipient

ROLE_TITLES = {
    "asec": "ASEC officer",
    "shepherd": "ASCN shepherd",
    "chair": "Chair of the ASCN",
    "focal_point": "focal point",
    "nr": "National Representative",
    "csco": "Chief Smart City Officer",
}


@dataclass(frozen=True)
class Rendered:
    message_id: str
    subject: str
    raw: str
    recipients: list[str]


@lru_cache(maxsize=1)
def _env():  # type: ignore[no-untyped-def]
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _person(r: Recipient) -> dict[str, str]:
    return {"name": r.name, "email": r.email, "zone": r.zone, "role_title": ROLE_TITLES.get(r.role, r.role)}


def _address(r: Recipient) -> Address:
    return Address(r.name, addr_spec=r.email)


def deadline_uid(deliverable_id: str, stage: str) -> str:
    """One stage's deadline, the same UID in reminders and in `ascn calendar --ics` feeds."""
    return f"{deliverable_id}/{stage}/deadline@ascn-workflow"


def deadline_ics(deliverable: dict[str, Any], deadline: datetime) -> bytes:
    """One VEVENT at the deadline; its UID is stable so a calendar updates rather than duplicates it."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//ASEAN Smart Cities Network//ascn_workflow//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", deadline_uid(deliverable["id"], deliverable["stage"]))
    event.add("dtstamp", deadline)
    event.add("dtstart", deadline)
    event.add("dtend", deadline)
    event.add("summary", f"Deadline: {deliverable['title']} ({deliverable['id']})")
    event.add("description", f"{deliverable['id']} must leave stage {deliverable['stage']} by this time.")
    cal.add_component(event)
    return bytes(cal.to_ical())


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
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address("ASCN Secretariat", addr_spec=sender)
    msg["To"] = [_address(r) for r in to]
    if cc:
        msg["Cc"] = [_address(r) for r in cc]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if ics is not None:
        msg.add_attachment(ics, maintype="text", subtype="calendar", filename="deadline.ics")
    recipients = list(dict.fromkeys(r.email for r in (*to, *cc)))
    return Rendered(message_id, subject, msg.as_string(), recipients)


def reminder_message(
    *,
    message_id: str,
    sender: str,
    now: datetime,
    deliverable: dict[str, Any],
    recipient: Recipient,
    deadline: datetime,
    host_zone: str,
    days_left: int,
    expected: list[dict[str, str]],
) -> Rendered:
    context = {
        "deliverable": deliverable,
        "recipient": _person(recipient),
        "deadline_local": show(deadline, recipient.zone),
        "deadline_host": show(deadline, host_zone),
        "host_zone": host_zone,
        "days_left": days_left,
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
        env.get_template("reminder.html.j2").render(context),
        deadline_ics(deliverable, deadline),
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
) -> Rendered:
    context = {
        "deliverable": deliverable,
        "deadline_host": show(deadline, host_zone),
        "host_zone": host_zone,
        "responsible": [_person(r) for r in responsible],
        "escalation": [_person(r) for r in escalation],
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
        env.get_template("overdue.html.j2").render(context),
        None,
    )
