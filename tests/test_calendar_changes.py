"""The calendar moves (SPEC §9): milestones in the database, `calendar set`, `extend`, the calendar's
history in the hash chain, and the messages that tell people, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import vobject

from .conftest import ASEC, CHAIR, NR, PEOPLE, Ascn, join

BANGKOK = "2018/action-plan/bangkok"


def _dump(a: Ascn) -> dict[str, Any]:
    with a.app().store.read() as tx:
        return tx.dump()


def _founded(a: Ascn) -> Ascn:
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    join(a, "TH", ["Bangkok", "Chonburi", "Phuket"])
    return a


def _sent_reminders(a: Ascn) -> Counter[tuple[str, str]]:
    """(recipient, subject) of every reminder delivered to the outbox folder."""
    found: Counter[tuple[str, str]] = Counter()
    for path in sorted((a.folder / "outbox").glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=default)
        found[(str(msg["To"]), str(msg["Subject"]))] += 1
    return found


def _messages(a: Ascn, kind: str) -> list[Any]:
    return [
        message_from_bytes(p.read_bytes(), policy=default)
        for p in sorted((a.folder / "outbox").glob("*.eml"))
        if p.name.startswith(kind)
    ]


def test_moving_the_scgw_a_week_later(ascn: Ascn) -> None:
    a = _founded(ascn)
    before = a.json("show", BANGKOK, now="2018-05-01T09:00+07:00")
    assert before["deadline"] == "2018-05-25T22:59:59+07:00"  # the end of the SCGW's last day in Singapore
    a.ok("tick", now="2018-05-12T12:00+08:00")  # the 14-day reminders went out on Fri 11 May
    sent = {r["recipient"]: r for r in before["reminders"] if r["offset_days"] == 14}
    assert set(sent) == {"csco@bangkok.example", NR["TH"]}

    moved = a.json(
        "calendar", "set", "scgw", "2018-05-29", "--reason", "The venue is taken that week",
        actor=ASEC, now="2018-05-14T10:00+08:00",
    )  # fmt: skip
    assert moved["old"] == {"start": "2018-05-22", "end": "2018-05-25", "zone": "Asia/Singapore", "same_as": None}
    assert moved["new"]["start"] == "2018-05-29" and moved["new"]["end"] == "2018-06-01"  # four days, as before
    assert moved["follows"] == ["action-plans-due"]
    bangkok = next(d for d in moved["deliverables"] if d["id"] == BANGKOK)
    assert bangkok == {
        "id": BANGKOK,
        "stage": "not_started",
        "zone": "Asia/Bangkok",
        "from": "2018-05-25T22:59:59+07:00",
        "to": "2018-06-01T22:59:59+07:00",
    }
    assert len(moved["deliverables"]) == 3  # Thailand's three cities, the only members so far
    mine = [r for r in moved["reminders_already_sent"] if r["deliverable_id"] == BANGKOK]
    assert {(r["recipient"], r["offset_days"]) for r in mine} == {("csco@bangkok.example", 14), (NR["TH"], 14)}
    planned = [r for r in moved["reminders_planned"] if r["deliverable_id"] == BANGKOK]
    # 7 days before Fri 1 Jun is Fri 25 May, 1 day before is Thu 31 May: 09:00 in Bangkok; no 14-day again.
    assert sorted((r["recipient"], r["offset_days"], r["due_at"]) for r in planned) == [
        ("csco@bangkok.example", 1, "2018-05-31T09:00:00+07:00"),
        ("csco@bangkok.example", 7, "2018-05-25T09:00:00+07:00"),
        (NR["TH"], 1, "2018-05-31T09:00:00+07:00"),
        (NR["TH"], 7, "2018-05-25T09:00:00+07:00"),
    ]
    cancelled = [r for r in moved["reminders_cancelled"] if r["deliverable_id"] == BANGKOK]
    assert sorted((r["recipient"], r["offset_days"]) for r in cancelled) == [
        ("csco@bangkok.example", 1),
        ("csco@bangkok.example", 7),
        (NR["TH"], 1),
        (NR["TH"], 7),
    ]
    assert NR["TH"] in moved["told"] and "csco@bangkok.example" in moved["told"]

    shown = a.json("show", BANGKOK, now="2018-05-14T11:00+08:00")
    assert shown["deadline"] == "2018-06-01T22:59:59+07:00"
    last = shown["history"][-1]
    assert last["trigger"] == "reschedule" and last["note"] == "The venue is taken that week"
    assert last["actor"] == ASEC and last["from_stage"] == last["to_stage"] == "not_started"
    cal = {r["id"]: r for r in a.json("calendar", now="2018-05-14T11:00+08:00")}
    assert cal["scgw"]["start"].startswith("2018-05-29") and cal["action-plans-due"]["start"].startswith("2018-06-01")
    feed = a.folder / "ascn-2018.ics"
    a.ok("calendar", "--ics", str(feed), now="2018-05-14T11:00+08:00")
    feed_events = {e.uid.value: e for e in vobject.readOne(feed.read_text()).vevent_list}
    assert str(feed_events["milestone/2018/scgw@ascn-workflow"].dtstart.value)[:10] == "2018-05-29"
    assert int(feed_events["milestone/2018/scgw@ascn-workflow"].sequence.value) == 1
    assert int(feed_events["milestone/2018/action-plans-due@ascn-workflow"].sequence.value) == 1  # it follows
    feed_deadline = feed_events[f"{BANGKOK}/not_started/deadline@ascn-workflow"]
    assert feed_deadline.dtend.value.astimezone(UTC).isoformat() == "2018-06-01T15:59:59+00:00"
    assert int(feed_deadline.sequence.value) == shown["version"]  # the same SEQUENCE as in the mail

    # A change to the directory plans every open deliverable's reminders again: still none twice.
    a.ok("people", "add", "--email", "fp@th.example", "--name", "FP TH", "--role", "focal_point",
         "--member-state", "TH", now="2018-05-14T12:00+08:00", actor=ASEC)  # fmt: skip
    # The rest of May: the 7-day reminder on the new date, never the old one, never a 14-day again.
    for day in ("2018-05-18T12:00+08:00", "2018-05-25T12:00+08:00", "2018-05-31T12:00+08:00"):
        a.ok("tick", now=day)
    reminders = [m for m in _messages(a, "reminder") if "csco@bangkok.example" in str(m["To"])]
    bangkok_reminders = [m for m in reminders if BANGKOK in str(m["Subject"])]
    assert len(bangkok_reminders) == 3  # 14 days (old date), then 7 and 1 days before the new one
    sent_on = sorted(m["Date"].datetime.date().isoformat() for m in bangkok_reminders)
    assert sent_on == ["2018-05-12", "2018-05-25", "2018-05-31"]  # the passes that found each one due

    # One "date changed" message per person, with the deadlines' .ics: same UID, higher SEQUENCE.
    changed = _messages(a, "date-changed")
    to = Counter(str(m["To"]).split("<")[-1].rstrip(">") for m in changed)
    assert to["csco@bangkok.example"] == 1 and to[NR["TH"]] == 1
    nr_mail = next(m for m in changed if NR["TH"] in str(m["To"]))
    assert "BANGKOK" not in nr_mail["Subject"] and "Date changed" in nr_mail["Subject"]
    ics = next(p for p in nr_mail.iter_attachments() if p.get_content_type() == "text/calendar")
    parsed = vobject.readOne(ics.get_content())
    events = {e.uid.value: e for e in parsed.vevent_list}
    deadline = events[f"{BANGKOK}/not_started/deadline@ascn-workflow"]
    assert int(deadline.sequence.value) > 0
    assert deadline.dtend.value.isoformat() == "2018-06-01T22:59:59+07:00"
    assert {f"2018/action-plan/{c}/not_started/deadline@ascn-workflow" for c in ("chonburi", "phuket")} <= set(events)
    assert int(events["milestone/2018/scgw@ascn-workflow"].sequence.value) == 1

    history = a.json("calendar", "history")
    assert [(h["kind"], h["target"], h["actor"], h["role"]) for h in history] == [("milestone", "scgw", ASEC, "asec")]
    assert history[0]["reason"] == "The venue is taken that week" and history[0]["old"]["start"] == "2018-05-22"
    assert a.json("audit", "verify")["problems"] == []


def test_a_move_that_makes_a_deadline_past_does_not_lapse_it_by_itself(ascn: Ascn) -> None:
    a = _founded(ascn)
    a.ok(
        "people",
        "add",
        "--email",
        "fp@vn.example",
        "--name",
        "FP VN",
        "--role",
        "focal_point",
        "--member-state",
        "VN",
        actor=ASEC,
    )
    moved = a.json(
        "calendar", "set", "nominations-due", "2018-02-10", "--reason", "brought forward",
        actor=CHAIR, now="2018-02-12T10:00+08:00",
    )  # fmt: skip
    assert moved["role"] == "chair" and moved["reminders_planned"] == []  # nothing for a past instant
    assert a.json("show", "2018/nomination/vn", now="2018-02-12T10:01+08:00")["stage"] == "awaiting"
    # The scheduler's normal pass lapses it, at the move (its history cannot go back before it).
    tick = a.json("tick", now="2018-02-12T12:00+08:00")
    assert "2018/nomination/vn: awaiting -> overdue at 2018-02-12T10:00:00+08:00" in tick["lapsed"]
    assert "2018/nomination/th: awaiting" not in " ".join(tick["lapsed"])  # Thailand had submitted


def test_rules_read_the_moved_milestone(ascn: Ascn) -> None:
    a = _founded(ascn)
    a.ok("calendar", "set", "jcm", "2018-10-22", "--reason", "JCM set late", actor=ASEC, now="2018-09-01T10:00+08:00")
    with a.app().store.read() as tx:
        stored = {m.milestone: m for m in tx.milestones(2018)}
    assert stored["jcm"].first_day == "2018-10-22" and stored["jcm"].revision == 1
    app = a.app()
    assert app.definitions.calendar(2018).milestone("jcm").start.isoformat() == "2018-10-22"
    fw = a.json("framework", now="2018-09-01T10:01+08:00")
    assert fw["stage"] == "drafting"
    twinning = a.json("show", "2018/twinning/bangkok", now="2018-09-01T10:01+08:00")
    assert twinning["stage"] == "unpaired"


def test_a_moved_deadline_keeps_when_the_stage_was_entered(ascn: Ascn) -> None:
    a = _founded(ascn)
    a.ok("calendar", "set", "framework-circulation", "2018-04-15", "--reason", "z", actor=ASEC,
         now="2018-03-21T10:00+08:00")  # fmt: skip
    history = a.json("history", "2018/framework")
    assert [(h["trigger"], h["from_stage"], h["to_stage"]) for h in history] == [("reschedule", "drafting", "drafting")]
    fw = a.json("framework", now="2018-03-22T10:00+08:00")
    drafting = fw["path"][0]
    assert drafting["stage"] == "drafting" and drafting["by"] is None  # opened, not entered by the move
    assert fw["deadline"] == "2018-04-15T23:59:59+08:00" and not fw["overdue"]


def test_dry_run_changes_nothing(ascn: Ascn) -> None:
    a = _founded(ascn)
    before = _dump(a)
    preview = a.json(
        "calendar", "set", "scgw", "2018-05-29", "--reason", "just looking", "--dry-run",
        actor=ASEC, now="2018-05-14T10:00+08:00",
    )  # fmt: skip
    assert preview["dry_run"] is True and len(preview["deliverables"]) == 3 and preview["told"]
    assert _dump(a) == before
    text = a.ok(
        "calendar", "set", "scgw", "2018-05-29", "--reason", "just looking", "--dry-run",
        actor=ASEC, now="2018-05-14T10:00+08:00",
    ).output  # fmt: skip
    assert text.splitlines()[0].startswith("2018 scgw: 2018-05-22..2018-05-25 Asia/Singapore -> 2018-05-29..2018-06-01")
    assert "dry run" in text.splitlines()[0] and f"deadline {BANGKOK}" in text
    assert _dump(a) == before


def test_refused_moves_change_nothing(ascn: Ascn) -> None:
    a = _founded(ascn)
    before = _dump(a)
    now = "2018-05-14T10:00+08:00"
    cases = [
        (["calendar", "set", "scgw", "2018-05-29", "--reason", "x"], NR["TH"], 5, "asec or the Chair"),
        (["calendar", "set", "scgw", "2018-05-29", "--reason", "x"], "nobody@x.example", 5, "unknown actor"),
        (["calendar", "set", "workshop", "2018-05-29", "--reason", "x"], ASEC, 3, "no milestone 'workshop'"),
        (["calendar", "set", "scgw", "2018-05-29", "--end", "2018-05-20", "--reason", "x"], ASEC, 2, "before"),
        (["calendar", "set", "scgw", "2018-05-29"], ASEC, 2, "--reason"),
        (["calendar", "set", "scgw", "29/05/2018", "--reason", "x"], ASEC, 2, "not a date"),
        (["calendar", "set", "scgw", "2018-05-29", "--zone", "Mars/Olympus", "--reason", "x"], ASEC, 2, "time zone"),
        (["calendar", "set", "scgw", "2018-05-29", "--cycle", "2031", "--reason", "x"], ASEC, 3, "2031"),
        (
            ["calendar", "set", "scgw", "2018-05-29", "--cycle", "1900", "--reason", "x"],
            ASEC,
            3,
            "no calendar for cycle 1900",
        ),
        (["calendar", "history", "--cycle", "1900"], ASEC, 3, "no calendar for cycle 1900"),  # as `set`: exit 3
        # Only canonical IANA names: not the machine's own zone, tzdata's helpers or its other trees.
        *[
            (["calendar", "set", "scgw", "2018-05-29", "--zone", zone, "--reason", "x"], ASEC, 2, "IANA time zone")
            for zone in ("localtime", "Factory", "posixrules", "right/UTC", "posix/Asia/Singapore")
        ],
        (["extend", BANGKOK, "--to", "2018-06-30", "--reason", "x"], NR["TH"], 5, "asec or the Chair"),
        (["extend", BANGKOK, "--to", "2018-05-01", "--reason", "x"], ASEC, 2, "not in the future"),
        (["extend", "2018/framework", "--to", "2018-06-30"], ASEC, 2, "--reason"),
        (["extend", "2018/nope", "--to", "2018-06-30", "--reason", "x"], ASEC, 3, "no deliverable"),
    ]
    for args, actor, code, words in cases:
        result = a.run(*args, actor=actor, now=now)
        assert result.exit_code == code, (args, result.output)
        assert words in result.stderr and "Traceback" not in result.output, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert a.json("calendar", "history", "--cycle", "2018") == []  # a known cycle without changes: empty, exit 0
    refused_json = a.run("calendar", "set", "nope", "2018-05-29", "--reason", "x", "--json", actor=ASEC, now=now)
    assert refused_json.exit_code == 3 and json.loads(refused_json.stderr)["error"]
    assert _dump(a) == before


def test_extension_after_a_lapse(ascn: Ascn) -> None:
    a = _founded(ascn)
    tick = a.json("tick", now="2018-03-01T12:00+08:00")
    assert "2018/nomination/vn: awaiting -> overdue at 2018-02-28T23:59:59+08:00" in tick["lapsed"]
    extended = a.json(
        "extend", "2018/nomination/vn", "--to", "2018-03-15", "--reason", "Viet Nam asked for two weeks",
        actor=ASEC, now="2018-03-02T10:00+07:00",
    )  # fmt: skip
    assert extended["from_stage"] == "overdue" and extended["to_stage"] == "awaiting"
    assert extended["to"] == "2018-03-15T23:59:59+07:00"  # a DATE is the end of that day in Viet Nam
    assert extended["told"] == [NR["VN"]]
    assert [(r["offset_days"], r["due_at"]) for r in extended["reminders_planned"]] == [
        (7, "2018-03-08T09:00:00+07:00"),
        (1, "2018-03-14T09:00:00+07:00"),
    ]
    shown = a.json("show", "2018/nomination/vn", now="2018-03-02T10:01+07:00")
    assert shown["stage"] == "awaiting" and not shown["overdue"]
    assert [h["trigger"] for h in shown["history"]] == ["lapse", "extend"]  # the lapse stays
    assert shown["history"][-1]["note"] == "Viet Nam asked for two weeks"
    a.ok("nominate", "VN", "--file", a.file("vn.toml", _vn()), actor=NR["VN"], now="2018-03-10T10:00+07:00")
    assert a.json("show", "2018/nomination/vn", now="2018-03-10T10:01+07:00")["stage"] == "submitted"
    history = a.json("calendar", "history", "--cycle", "2018")
    assert history[-1]["kind"] == "extension" and history[-1]["target"] == "2018/nomination/vn"
    assert history[-1]["old"]["stage"] == "overdue" and history[-1]["new"]["stage"] == "awaiting"
    assert a.json("audit", "verify")["problems"] == []


def test_extension_before_the_deadline_keeps_the_stage_and_lapses_again_when_missed(ascn: Ascn) -> None:
    a = _founded(ascn)
    a.ok("extend", "2018/nomination/sg", "--to", "2018-03-09T17:00+08:00", "--reason", "x", actor=CHAIR,
         now="2018-02-20T10:00+08:00")  # fmt: skip
    row = a.json("show", "2018/nomination/sg", now="2018-02-20T10:01+08:00")
    assert row["stage"] == "awaiting" and row["deadline"] == "2018-03-09T17:00:00+08:00"
    tick = a.json("tick", now="2018-03-01T12:00+08:00")
    assert not any(x.startswith("2018/nomination/sg") for x in tick["lapsed"])
    moved = a.json("calendar", "set", "nominations-due", "2018-03-05", "--reason", "y", actor=ASEC,
                   now="2018-03-01T13:00+08:00")  # fmt: skip
    assert {"id": "2018/nomination/sg", "deadline": "2018-03-09T17:00:00+08:00"} in moved["kept"]
    tick = a.json("tick", now="2018-03-10T12:00+08:00")
    assert "2018/nomination/sg: awaiting -> overdue at 2018-03-09T17:00:00+08:00" in tick["lapsed"]


def _vn() -> str:
    return (
        'member_state = "VN"\n\n[national_representative]\nname = "NR VN"\nemail = "nr@vn.example"\n\n'
        '[[cities]]\nname = "Ha Noi"\ncsco = { name = "CSCO Ha Noi", email = "csco@ha-noi.example" }\n'
    )


def test_export_and_import_keep_calendar_history_and_documents(ascn: Ascn, tmp_path: Path) -> None:
    a = _founded(ascn)
    a.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=ASEC, now="2018-05-14T10:00+08:00")
    a.ok("extend", BANGKOK, "--to", "2018-06-15", "--reason", "late start", actor=ASEC, now="2018-05-15T10:00+08:00")
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework draft 1\n"), actor=ASEC)
    export = tmp_path / "export.json"
    a.ok("export", str(export), now="2018-05-16T10:00+08:00")
    other = tmp_path / "other"
    other.mkdir()
    from .conftest import write_config

    config = write_config(other, f"sqlite:///{other / 'ascn.db'}")
    b = Ascn(other, config)
    b.ok("import", str(export))
    assert b.json("calendar", "history") == a.json("calendar", "history")
    assert b.json("document", "list", "2018/framework") == [
        {**d, "path": d["path"].replace(str(a.folder), str(other))}
        for d in a.json("document", "list", "2018/framework")
    ]
    assert b.json("show", BANGKOK, now="2018-05-16T10:00+08:00")["deadline"] == "2018-06-15T23:59:59+07:00"
    # The document files stay in [documents] dir: until that folder is copied, audit verify misses them.
    missing = json.loads(b.run("audit", "verify", "--json").stdout)["problems"]
    assert [(p["deliverable_id"], p["kind"]) for p in missing] == [("2018/framework document", "deleted")]
    shutil.copytree(a.folder / "documents", other / "documents")
    assert b.json("audit", "verify")["problems"] == []
    assert b.json("audit", "verify")["calendar_changes"] == 2


def test_tampering_with_the_calendar_history_is_caught(ascn: Ascn) -> None:
    from sqlalchemy import text

    from ascn_workflow.store.append_only import unprotect
    from ascn_workflow.store.migrate import make_engine

    a = _founded(ascn)
    a.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=ASEC, now="2018-05-14T10:00+08:00")
    a.ok("extend", BANGKOK, "--to", "2018-06-15", "--reason", "late", actor=ASEC, now="2018-05-15T10:00+08:00")
    assert a.json("audit", "verify")["problems"] == []
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)  # as someone with the database owner's rights would (migration 0008)
        c.execute(text("UPDATE calendar_change SET reason = 'no reason' WHERE seq = 1"))
    engine.dispose()
    result = a.run("audit", "verify", "--json")
    assert result.exit_code == 7
    problems = json.loads(result.stdout)["problems"]
    assert {"deliverable_id": "calendar", "position": 1, "kind": "edited"}.items() <= problems[0].items()
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)  # as someone with the database owner's rights would (migration 0008)
        c.execute(text("DELETE FROM calendar_change WHERE seq = 1"))
    engine.dispose()
    kinds = {p["kind"] for p in json.loads(a.run("audit", "verify", "--json").stdout)["problems"]}
    assert "deleted" in kinds


def test_a_running_scheduler_sees_a_moved_milestone(ascn: Ascn) -> None:
    from ascn_workflow import scheduling

    a = _founded(ascn)
    app = scheduling._app(str(a.config))  # the scheduler's long-lived App, with the milestones read
    assert app.definitions.calendar(2018).milestone("nominations-due").end.isoformat() == "2018-02-28"
    a.ok("calendar", "set", "nominations-due", "2018-03-09", "--reason", "y", actor=ASEC, now="2018-02-20T10:00+08:00")
    scheduling.run_pass(str(a.config), "2018-03-10T12:00+08:00")
    lapsed = a.json("show", "2018/nomination/vn", now="2018-03-10T12:01+08:00")
    assert lapsed["stage"] == "overdue"
    assert lapsed["deadline"] == "2018-03-09T22:59:59+07:00"  # the overdue stage's deadline: the moved one
    scheduling._apps.pop(str(a.config), None)


def test_the_database_holds_the_calendar_once_the_cycle_is_open(ascn: Ascn, workflows_copy: Path) -> None:
    """init seeds the milestones from the file; after that, editing the file changes nothing."""
    a = ascn
    a.config.write_text(
        a.config.read_text().replace(str(Path(__file__).parent.parent / "workflows"), str(workflows_copy))
    )
    a.ok("init")
    with a.app().store.read() as tx:
        stored = {m.milestone: m for m in tx.milestones(2018)}
    assert len(stored) == 9 and stored["action-plans-due"].same_as == "scgw"
    assert (stored["jcm"].first_day, stored["jcm"].zone) == ("2018-10-15", "Asia/Singapore")
    calendar_file = workflows_copy / "calendars" / "2018.toml"
    calendar_file.write_text(calendar_file.read_text().replace("date = 2018-10-15", "date = 2018-10-01"))
    jcm = next(r for r in a.json("calendar") if r["id"] == "jcm")
    assert jcm["start"].startswith("2018-10-15")  # the database's date, not the edited file's


def test_a_long_running_app_follows_calendar_changes_made_elsewhere(ascn: Ascn) -> None:
    """The portal and the scheduler keep one App: it reads the milestones again after a change."""
    a = _founded(ascn)
    app = a.app()
    app.follow_calendar()
    assert app.definitions.calendar(2018).milestone("jcm").start.isoformat() == "2018-10-15"
    a.ok("calendar", "set", "jcm", "2018-10-22", "--reason", "late", actor=ASEC, now="2018-09-01T10:00+08:00")
    assert app.definitions.calendar(2018).milestone("jcm").start.isoformat() == "2018-10-15"  # read before
    app.follow_calendar()
    assert app.definitions.calendar(2018).milestone("jcm").start.isoformat() == "2018-10-22"
    app.store.close()


def _overdue_notices(a: Ascn, deliverable: str) -> list[str]:
    """The overdue notices delivered for one deliverable (one file per notice)."""
    token = deliverable.replace("/", ".")
    return sorted(p.name for p in (a.folder / "outbox").glob(f"overdue.{token}.*.eml"))


def test_a_move_past_a_lapse_returns_the_deliverable_to_the_stage_it_lapsed_from(ascn: Ascn) -> None:
    a = _founded(ascn)
    tick = a.json("tick", now="2018-03-01T12:00+08:00")
    assert "2018/nomination/vn: awaiting -> overdue at 2018-02-28T23:59:59+08:00" in tick["lapsed"]
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 1
    args = ("calendar", "set", "nominations-due", "2018-03-15", "--reason", "moved")
    preview = a.ok(*args, "--dry-run", actor=ASEC, now="2018-03-04T10:00+08:00").output
    assert "deadline 2018/nomination/vn (overdue -> awaiting)" in preview  # the return, shown in the diff
    moved = a.json(*args, actor=ASEC, now="2018-03-04T10:00+08:00")
    vn = next(d for d in moved["deliverables"] if d["id"] == "2018/nomination/vn")
    assert vn["from_stage"] == "overdue" and vn["stage"] == "awaiting"
    assert vn["to"] == "2018-03-15T22:59:59+07:00"  # the end of the day in Singapore
    planned = sorted(
        (r["offset_days"], r["due_at"]) for r in moved["reminders_planned"] if r["deliverable_id"] == vn["id"]
    )
    assert planned == [(1, "2018-03-14T09:00:00+07:00"), (7, "2018-03-08T09:00:00+07:00")]
    shown = a.json("show", "2018/nomination/vn", now="2018-03-04T10:01+08:00")
    assert shown["stage"] == "awaiting" and not shown["overdue"]
    assert [(h["trigger"], h["from_stage"], h["to_stage"]) for h in shown["history"]] == [
        ("lapse", "awaiting", "overdue"),  # the lapse stays in the history
        ("reschedule", "overdue", "awaiting"),
    ]
    recorded = a.json("calendar", "history", "--cycle", "2018")[-1]
    assert {"id": "2018/nomination/vn", "from_stage": "overdue", "stage": "awaiting"}.items() <= next(
        d for d in recorded["deliverables"] if d["id"] == "2018/nomination/vn"
    ).items()
    a.ok("tick", now="2018-03-10T12:00+08:00")  # the 7-day reminder; no notice while it is not overdue
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 1
    tick = a.json("tick", now="2018-03-17T10:00+08:00")  # missed again: it lapses again, one notice for that
    assert "2018/nomination/vn: awaiting -> overdue at 2018-03-15T23:59:59+08:00" in tick["lapsed"]
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 2
    a.ok("tick", now="2018-03-20T10:00+08:00")
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 2
    assert a.json("audit", "verify")["problems"] == []


def test_a_move_that_leaves_a_lapsed_deadline_past_keeps_it_lapsed_and_notifies_nobody_again(ascn: Ascn) -> None:
    a = _founded(ascn)
    a.ok("tick", now="2018-03-01T12:00+08:00")
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 1
    moved = a.json(
        "calendar", "set", "nominations-due", "2018-03-02", "--reason", "a day later, still past",
        actor=ASEC, now="2018-03-04T10:00+08:00",
    )  # fmt: skip
    vn = next(d for d in moved["deliverables"] if d["id"] == "2018/nomination/vn")
    assert vn["stage"] == "overdue" and "from_stage" not in vn
    assert [r for r in moved["reminders_planned"] if r["deliverable_id"] == vn["id"]] == []
    shown = a.json("show", "2018/nomination/vn", now="2018-03-04T10:01+08:00")
    assert shown["stage"] == "overdue" and shown["overdue"]
    assert shown["deadline"] == "2018-03-02T22:59:59+07:00"
    for day in ("2018-03-04T12:00+08:00", "2018-03-17T10:00+08:00"):
        a.ok("tick", now=day)
    assert len(_overdue_notices(a, "2018/nomination/vn")) == 1  # the same stage entry: never a second notice
    assert a.json("audit", "verify")["problems"] == []


def test_audit_catches_a_milestone_or_document_edited_in_the_database(ascn: Ascn) -> None:
    from sqlalchemy import text

    from ascn_workflow.store.append_only import unprotect
    from ascn_workflow.store.migrate import make_engine

    a = _founded(ascn)
    a.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=ASEC, now="2018-05-14T10:00+08:00")
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework draft 1\n"), actor=ASEC)
    assert a.json("audit", "verify")["problems"] == []

    def problems_after(*statements: str) -> list[dict[str, Any]]:
        engine = make_engine(a.app().config.database_url)
        with engine.begin() as c:
            unprotect(c)  # document rows are append-only (migration 0010): as the database owner would
            for statement in statements:
                c.execute(text(statement))
        engine.dispose()
        result = a.run("audit", "verify", "--json")
        assert result.exit_code == 7, result.output
        return list(json.loads(result.stdout)["problems"])

    # A moved milestone's days, edited past its calendar change; then one never moved, edited.
    found = problems_after("UPDATE milestone SET last_day = '2018-06-08' WHERE milestone = 'scgw'")
    assert [(p["deliverable_id"], p["kind"]) for p in found] == [("milestone 2018/scgw", "edited")]
    assert "2018-06-08" in found[0]["message"] and "2018-06-01" in found[0]["message"]
    found = problems_after(
        "UPDATE milestone SET last_day = '2018-06-01' WHERE milestone = 'scgw'",
        "UPDATE milestone SET first_day = '2018-11-30', last_day = '2018-11-30' WHERE milestone = 'jcm'",
    )
    assert {(p["deliverable_id"], p["kind"]) for p in found} == {("milestone 2018/jcm", "edited")}
    # A document row pointed at other bytes (its file is then missing), or given another size.
    found = problems_after(
        "UPDATE milestone SET first_day = '2018-10-15', last_day = '2018-10-15' WHERE milestone = 'jcm'",
        "UPDATE document SET size = 3 WHERE deliverable_id = '2018/framework'",
    )
    # Each is told twice: by the file (its size, its bytes) and by the row's hash chain (migration 0009).
    assert [(p["deliverable_id"], p["kind"]) for p in found] == [("2018/framework document", "edited")] * 2
    found = problems_after(
        f"UPDATE document SET sha256 = '{'0' * 64}', size = 18 WHERE deliverable_id = '2018/framework'"
    )
    assert [(p["deliverable_id"], p["kind"]) for p in found] == [
        ("2018/framework document", "deleted"),
        ("2018/framework document", "edited"),
    ]
