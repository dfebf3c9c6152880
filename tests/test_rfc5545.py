"""The calendar files written by hand (`rfc5545`, `calendar_feed`) say what icalendar wrote.

Each case is written twice: by the product, and by the icalendar code it replaced (kept here as
the reference). Both files are read by two parsers that share no code with the writer: vobject,
and icalendar's own parser. Every component, property, parameter and value must be the same;
every physical line must be at most 75 octets, end in CRLF and be valid UTF-8 on its own.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event, Timezone, vCalAddress

from ascn_workflow import rfc5545
from ascn_workflow.calendar_feed import (
    DEADLINE_LEAD,
    PRODID,
    calendar_of,
    deadline_event,
    event_identity,
    milestone_event,
    to_ics,
)
from ascn_workflow.definitions import load
from ascn_workflow.mail.render import SENDER_NAME, deadline_ics
from ascn_workflow.spec import Definitions

from .conftest import WORKFLOWS

NOW = datetime(2018, 2, 1, 1, 2, 3, 456789, tzinfo=UTC)  # microseconds: DTSTAMP is to the second
SENDER = "asec@asean.example"

# ---------------------------------------------------------------------------- the reference


def _reference_deadline(
    *, uid: str, sequence: int, deadline: datetime, zone: str, summary: str, description: str, now: datetime
) -> Any:
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


def _reference_milestone(row: dict[str, Any], now: datetime) -> Any:
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


def _reference_calendar(
    events: list[Any], *, name: str | None = None, organizer: tuple[str, str] | None = None
) -> bytes:
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
    position = len(cal.timezones)
    for tzid in sorted(cal.get_missing_tzids()):
        try:
            cal.subcomponents.insert(position, Timezone.from_tzid(tzid))
            position += 1
        except ValueError:
            pass
    return bytes(cal.to_ical())


# ---------------------------------------------------------------------------- the two readings


def _value(value: Any) -> Any:
    """A parsed value in a comparable form: a date-time as its wall clock and its offset from
    UTC (the zone objects of two parses are never the same object)."""
    if isinstance(value, datetime):
        return ("datetime", value.replace(tzinfo=None).isoformat(), value.utcoffset())
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _by_vobject(data: bytes) -> Any:
    def component(c: Any) -> Any:
        lines = sorted(
            (line.name, sorted((k, list(v)) for k, v in line.params.items()), repr(_value(line.value)))
            for line in c.lines()
        )
        return (c.name, lines, sorted((component(s) for s in c.components()), key=repr))

    return component(vobject.readOne(data.decode("utf-8")))


def _by_icalendar(data: bytes) -> Any:
    def component(c: Any) -> Any:
        props = sorted(
            (name, sorted(dict(value.params).items()), repr(_value(c.decoded(name))), value.to_ical())
            for name, value in c.items()
        )
        return (c.name, props, sorted((component(s) for s in c.subcomponents), key=repr))

    return component(Calendar.from_ical(data))


def _lines_hold(data: bytes) -> list[bytes]:
    """Every physical line: at most 75 octets, CRLF-ended, no bare CR or LF, UTF-8 on its own."""
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert len(line) <= 75, line
        assert b"\r" not in line and b"\n" not in line
        line.decode("utf-8")  # a fold inside a UTF-8 sequence would fail here
    return lines


def _same(new: bytes, old: bytes) -> None:
    _lines_hold(new)
    assert _by_vobject(new) == _by_vobject(old)
    assert _by_icalendar(new) == _by_icalendar(old)


# ---------------------------------------------------------------------------- the cases

TITLES = [
    "Smart City Action Plan",
    "Kế hoạch hành động thành phố thông minh — Hà Nội, Đà Nẵng; Huế",
    "เมืองอัจฉริยะ " * 9,  # three octets a character, folded mid-sequence unless it takes care
    "Ayeyarwady ဧရာဝတီ " * 6,
    "x" + "é" * 60,
    "xx" + "😀" * 30,  # four octets a character
    "commas, semicolons; backslashes \\ and \\\\; newlines\nline two\r\nline three\rline four",
    "\\" * 101,  # escapes at every fold position
    "a\\;" * 40,
    ";" * 80 + "," * 80,
    "tab\tbetween",
    "  leading and trailing spaces  ",
    'quote " and colon : in text',
    "y" * 200,
]
EXTRA_ZONES = [
    "UTC",
    "Etc/UTC",
    "GMT",
    "Africa/Abidjan",  # a zone icalendar holds equal to UTC
    "Europe/London",  # daylight saving time
    "America/St_Johns",  # half an hour off, and DST
    "Australia/Lord_Howe",  # a half-hour DST shift
    "Asia/Kathmandu",
    "Etc/GMT+5",
    "Pacific/Chatham",
]
SEQUENCES = [0, 1, 7, 12345]
DEADLINES = [
    datetime(2018, 2, 28, 15, 59, 59, tzinfo=UTC),
    datetime(2018, 3, 25, 1, 15, tzinfo=UTC),  # just after London's clocks go forward
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),  # inside London's repeated hour
]


def _zones(defs: Definitions) -> list[str]:
    """Every zone the definitions name (member states, cities, calendars), and the extra ones."""
    network = defs.network
    zones = {ms.zone for ms in network.member_states.values()}
    zones |= {city.zone for ms in network.member_states.values() for city in ms.cities if city.zone}
    zones |= {c.zone for c in defs.calendars.values()}
    return sorted(zones) + EXTRA_ZONES


def _deadline_pair(title: str, zone: str, sequence: int, deadline: datetime, organizer: str) -> tuple[bytes, bytes]:
    identity = event_identity("deadline", "2018/th/bangkok/plan/draft", sequence)
    fields: dict[str, Any] = {
        "uid": identity.uid,
        "sequence": identity.sequence,
        "deadline": deadline,
        "zone": zone,
        "summary": f"Deadline: {title} (2018/th/bangkok/plan)",
        "description": f"2018/th/bangkok/plan must leave stage draft by {deadline.isoformat()}; {title}",
        "now": NOW,
    }
    return (
        calendar_of([deadline_event(**fields)], organizer=(organizer, SENDER)),
        _reference_calendar([_reference_deadline(**fields)], organizer=(organizer, SENDER)),
    )


ZONES = _zones(load(WORKFLOWS))


def test_the_definitions_zones_are_all_covered() -> None:
    assert {"Asia/Bangkok", "Asia/Kuching", "Asia/Makassar", "Asia/Dili", "Asia/Yangon"} <= set(ZONES)


@pytest.mark.parametrize("zone_index", range(len(ZONES)), ids=ZONES)
def test_each_zone_is_written_as_icalendar_wrote_it(zone_index: int) -> None:
    """Every zone in the definitions (and a few harder ones), each with a title, a sequence and a
    deadline taken in turn."""
    zone = ZONES[zone_index]
    title = TITLES[zone_index % len(TITLES)]
    sequence = SEQUENCES[zone_index % len(SEQUENCES)]
    for deadline in DEADLINES:
        new, old = _deadline_pair(title, zone, sequence, deadline, SENDER_NAME)
        _same(new, old)
        parsed = Calendar.from_ical(new).walk("VEVENT")[0]
        # the instant itself, in any zone (a repeated hour's wall clock is its first, RFC 5545 §3.3.5)
        assert parsed.decoded("dtend").astimezone(UTC) == deadline
        assert parsed.decoded("dtend") - parsed.decoded("dtstart") == DEADLINE_LEAD or zone == "Europe/London"
        assert vobject.readOne(new.decode("utf-8")).vevent.sequence.value == str(sequence)


@pytest.mark.parametrize("title", TITLES)
def test_each_title_is_escaped_and_folded_as_icalendar_did(title: str) -> None:
    zone = ZONES[TITLES.index(title) % len(ZONES)]
    for sequence in SEQUENCES:
        new, old = _deadline_pair(title, zone, sequence, DEADLINES[0], SENDER_NAME)
        _same(new, old)
        event = vobject.readOne(new.decode("utf-8")).vevent
        expected = re.sub(r"\r\n|\r", "\n", title)
        assert event.summary.value == f"Deadline: {expected} (2018/th/bangkok/plan)"
        assert event.description.value.endswith(f"; {expected}")


def test_folds_never_split_a_character_or_an_escape() -> None:
    """A summary folded at every offset against its multi-octet characters and its escapes."""
    folds = 0
    for pad in range(8):
        for body in ("é" * 150, "ภ" * 100, "😀" * 80, "\\;" * 150, "x\\" * 150):
            summary = "p" * pad + body
            line = f"SUMMARY:{rfc5545.text(summary)}"
            data = rfc5545.fold(line)
            physical = _lines_hold(data)
            folds += len(physical) - 1
            assert all(p.startswith(b" ") and not p.startswith(b"  ") for p in physical[1:]), physical
            assert b"".join(p[1:] if i else p for i, p in enumerate(physical)).decode() == line  # unfolds back
            for piece in physical[:-1]:
                run = len(piece) - len(piece.rstrip(b"\\"))
                assert run % 2 == 0, piece  # no escape cut in two
            assert all(len(p) >= 70 for p in physical[:-1])  # folds are late in the line, not wasteful
    assert folds > 200


@pytest.mark.parametrize("name", [SENDER_NAME, "Secretariat, ASEAN; HQ: Jakarta", "Sécrétariat de l'ASEAN", "a" * 90])
def test_the_organizer_name_is_quoted_as_a_parameter(name: str) -> None:
    new, old = _deadline_pair("Plan", "Asia/Jakarta", 2, DEADLINES[0], name)
    _same(new, old)
    organizer = vobject.readOne(new.decode("utf-8")).vevent.organizer
    assert organizer.params["CN"] == [name] and organizer.value == f"mailto:{SENDER}"


def test_a_parameter_or_text_that_cannot_be_written_is_refused() -> None:
    with pytest.raises(ValueError, match="DQUOTE"):
        rfc5545.param('the "Secretariat"')
    with pytest.raises(ValueError, match="control character"):
        rfc5545.text("bell\x07")
    with pytest.raises(ValueError, match="control character"):
        rfc5545.uri("mailto:a@b.example\r\nX-INJECTED:1")


def test_feed_with_milestones_and_deadlines_in_several_zones(defs: Definitions) -> None:
    """`ascn calendar --ics`'s file: milestones (dates), deadlines in several zones (one VTIMEZONE
    each), no METHOD and no ORGANIZER."""
    rows: list[dict[str, Any]] = []
    for i, m in enumerate(defs.calendar(2018).milestones.values()):
        identity = event_identity("milestone", f"2018/{m.id}", i)
        rows.append(
            {
                "kind": "milestone",
                "uid": identity.uid,
                "sequence": identity.sequence,
                "title": m.title + ("; moved, again" if i % 2 else ""),
                "first_day": m.start,
                "last_day": m.end,
            }
        )
    zones = ZONES
    for i, deadline in enumerate(DEADLINES * 3):
        identity = event_identity("deadline", f"2018/d{i}/draft", i)
        rows.append(
            {
                "kind": "deadline",
                "uid": identity.uid,
                "sequence": identity.sequence,
                "title": TITLES[i % len(TITLES)],
                "id": f"2018/d{i}",
                "stage": "draft",
                "start": deadline,
                "zone": zones[i % len(zones)],
            }
        )
    new = to_ics(rows, 2018, NOW)
    old_events = [
        _reference_milestone(r, NOW)
        if r["kind"] == "milestone"
        else _reference_deadline(
            uid=r["uid"],
            sequence=r["sequence"],
            deadline=r["start"],
            zone=r["zone"],
            summary=r["title"],
            description=new_description(r),
            now=NOW,
        )
        for r in rows
    ]
    _same(new, _reference_calendar(old_events, name="ASCN 2018"))
    cal = vobject.readOne(new.decode("utf-8"))
    assert not hasattr(cal, "method") and all(not hasattr(e, "organizer") for e in cal.vevent_list)
    assert len(cal.vevent_list) == len(rows)
    assert cal.x_wr_calname.value == "ASCN 2018"


def new_description(row: dict[str, Any]) -> str:
    from ascn_workflow.dates import show

    return f"{row['id']} must leave stage {row['stage']} by {show(row['start'], row['zone'])}."


def test_the_reminders_file_is_the_one_icalendar_wrote() -> None:
    """`mail.render.deadline_ics`, as attached to reminders and overdue notices."""
    deliverable = {"id": "2018/th/bangkok/plan", "stage": "draft", "version": 4, "title": "Plan; Bangkok, Thailand"}
    deadline = DEADLINES[0]
    new = deadline_ics(deliverable, deadline, "Asia/Bangkok", NOW, SENDER)
    identity = event_identity("deadline", "2018/th/bangkok/plan/draft", 4)
    old = _reference_calendar(
        [
            _reference_deadline(
                uid=identity.uid,
                sequence=identity.sequence,
                deadline=deadline,
                zone="Asia/Bangkok",
                summary="Deadline: Plan; Bangkok, Thailand (2018/th/bangkok/plan)",
                description="2018/th/bangkok/plan must leave stage draft by 2018-02-28T22:59:59+07:00.",
                now=NOW,
            )
        ],
        organizer=(SENDER_NAME, SENDER),
    )
    _same(new, old)
    cal = vobject.readOne(new.decode("utf-8"))
    assert cal.method.value == "PUBLISH"
    assert cal.vevent.dtstamp.value == datetime(2018, 2, 1, 1, 2, 3, tzinfo=UTC)


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r") | st.sampled_from("\n\t\\;,:\"'"),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(summary=_TEXT, description=_TEXT, sequence=st.integers(0, 2**31 - 1))
def test_any_text_comes_back_as_written(summary: str, description: str, sequence: int) -> None:
    """Whatever a title holds (but the controls TEXT cannot carry) reads back the same, in a file
    whose every line holds the limits. (icalendar itself reads a literal `\\N` back as a line
    break, so this is held to the text, not to icalendar's file.)"""
    event = deadline_event(
        uid="u@ascn-workflow",
        sequence=sequence,
        deadline=DEADLINES[0],
        zone="UTC",
        summary=summary,
        description=description,
        now=NOW,
    )
    data = calendar_of([event], organizer=(SENDER_NAME, SENDER))
    _lines_hold(data)
    parsed = vobject.readOne(data.decode("utf-8")).vevent
    assert parsed.summary.value == summary and parsed.description.value == description
    assert Calendar.from_ical(data).walk("VEVENT")[0].decoded("summary") == summary
    assert int(parsed.sequence.value) == sequence


def test_milestones_keep_their_days() -> None:
    row = {
        "uid": "milestone/2018/x@ascn-workflow",
        "sequence": 3,
        "first_day": date(2018, 12, 31),
        "last_day": date(2019, 1, 1),
        "title": "New year, ASEAN",
    }
    new = calendar_of([milestone_event(row, NOW)], organizer=(SENDER_NAME, SENDER))
    _same(new, _reference_calendar([_reference_milestone(row, NOW)], organizer=(SENDER_NAME, SENDER)))
    event = vobject.readOne(new.decode("utf-8")).vevent
    assert (event.dtstart.value, event.dtend.value) == (date(2018, 12, 31), date(2019, 1, 2))
