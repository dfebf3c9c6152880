"""Deadlines that act: reminders, lapses, overdue notices and delivery, against a real SMTP server."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from .conftest import ASEC, CHAIR, FEBRUARY_PEOPLE, NR, Ascn, join, nomination, stored, utc


def _days(first: date, last: date) -> list[str]:
    return [f"{first + timedelta(days=i)}T12:00+08:00" for i in range((last - first).days + 1)]


def _tick(a: Ascn, when: str) -> dict[str, Any]:
    return a.json("tick", now=when)


def _with_people(a: Ascn) -> Ascn:
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE), now="2018-01-20T09:00+08:00", actor=ASEC)
    return a


def test_february_nominations_sequence(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    for when in _days(date(2018, 2, 1), date(2018, 2, 17)):
        _tick(a, when)
    a.ok(
        "nominate",
        "TH",
        "--file",
        a.file("th.toml", nomination("TH", ["Bangkok", "Phuket"], NR["TH"])),
        actor=NR["TH"],
        now="2018-02-18T10:00+07:00",
    )
    for when in _days(date(2018, 2, 18), date(2018, 3, 2)):
        _tick(a, when)

    # Thailand submitted after its 14-day reminder: nothing more for it, no lapse, reminders cancelled.
    assert len(mail_server.to("nr@th.example")) == 1 and len(mail_server.to("fp@th.example")) == 1
    th_local = parsedate_to_datetime(mail_server.to("nr@th.example")[0].message["Date"])
    assert th_local == utc("2018-02-14T12:00+08:00")
    app = a.app()
    th = [r for r in stored(app, "reminder") if r.deliverable_id == "2018/nomination/th"]
    assert Counter(r.status for r in th) == {"sent": 2, "cancelled": 4}
    assert a.json("show", "2018/nomination/th", now="2018-03-02T12:00+08:00")["stage"] == "submitted"

    # Viet Nam never submitted: 14-, 7- and 1-day reminders (the first moved off Tet), then the lapse.
    vn = [r for r in mail_server.to("nr@vn.example") if "Reminder" in r.message["Subject"]]
    assert len(vn) == 3
    assert [parsedate_to_datetime(r.message["Date"]).date() for r in vn] == [
        date(2018, 2, 13),
        date(2018, 2, 21),
        date(2018, 2, 27),
    ]
    first = vn[0]
    assert (
        "2018/nomination/vn" in first.message["Subject"] and "Nomination of member cities" in first.message["Subject"]
    )
    assert "2018-02-28T22:59:59+07:00 (your time, Asia/Ho_Chi_Minh)" in first.text
    assert "2018-02-28T23:59:59+08:00 (Asia/Singapore" in first.text
    assert "ascn --actor nr@vn.example nominate VN --file NOMINATION.toml" in first.text
    assert first.message.get_body(("html",)) is not None
    ics = next(p for p in first.message.walk() if p.get_content_type() == "text/calendar")
    event = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
    # The event ends at the deadline (RFC 5545: DTEND after DTSTART), in the recipient's zone.
    assert event.decoded("dtend") == utc("2018-02-28T23:59:59+08:00")
    assert event.decoded("dtstart") == utc("2018-02-28T23:29:59+08:00")
    assert str(event.decoded("dtend").tzinfo) == "Asia/Ho_Chi_Minh"
    assert str(event["uid"]) == "2018/nomination/vn/awaiting/deadline@ascn-workflow"

    history = a.json("history", "2018/nomination/vn")
    assert history[-1]["trigger"] == "lapse" and history[-1]["actor"] == "scheduler"
    assert utc(history[-1]["effective_at"]) == utc("2018-02-28T23:59:59+08:00")
    assert utc(history[-1]["recorded_at"]) == utc("2018-03-01T12:00+08:00")

    notices = [r for r in mail_server.received if r.message["Subject"].startswith("[ASCN] OVERDUE: 2018/nomination/vn")]
    assert len(notices) == 1
    notice = notices[0]
    # Escalation to ASEC and the Chair: one Chair, the explicit chair grant, which stands in for
    # Singapore's NR (the Chair without one; tests/test_outputs.py checks that case).
    assert set(notice.rcpt) == {"nr@vn.example", "fp@vn.example", ASEC, CHAIR}
    assert ASEC in str(notice.message["Cc"]) and CHAIR in str(notice.message["Cc"])
    assert "moved there by the scheduler" in notice.text

    # Every message once, and a second pass at the same instant sends nothing.
    ids = Counter(r.message_id for r in mail_server.received)
    assert max(ids.values()) == 1
    before = len(mail_server.received)
    again = _tick(a, "2018-03-02T12:00+08:00")
    assert again["reminders"] == [] and again["lapsed"] == [] and again["delivered"] == []
    assert len(mail_server.received) == before


@pytest.mark.slow
def test_two_tick_processes_at_once_deliver_each_reminder_once(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": "2018-02-14T12:00+08:00"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ascn_workflow", "tick"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    received = Counter((r.message_id, tuple(r.rcpt)) for r in mail_server.received)
    assert received and max(received.values()) == 1
    # The 14-day reminders due by the 14th (VN's moved to the 13th), one each, to every responsible person.
    recipients = sorted(addr for r in mail_server.received for addr in r.rcpt)
    assert recipients == sorted(
        [
            "nr@th.example",
            "fp@th.example",
            "nr@vn.example",
            "fp@vn.example",
            "fp@id.example",
            "nr@my.example",
            "nr@sg.example",
        ]
    )


def test_a_pass_sends_its_messages_over_one_smtp_connection(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    report = _tick(a, "2018-02-14T12:00+08:00")
    assert len(report["delivered"]) == 7 and len(mail_server.distinct()) == 7
    assert mail_server.sessions == 1


def test_smtp_outage_delays_but_never_loses(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    mail_server.stop()
    down = _tick(a, "2018-02-14T12:00+08:00")
    assert down["delivered"] == [] and len(down["retrying"]) == 7
    queued = a.json("outbox", "list", "--status", "queued")
    assert len(queued) == 7 and all(m["attempts"] == 1 and m["last_error"] for m in queued)

    mail_server.start()
    too_soon = _tick(a, "2018-02-14T12:00:30+08:00")  # the first retry waits a minute
    assert too_soon["delivered"] == []
    up = _tick(a, "2018-02-14T12:05+08:00")
    assert len(up["delivered"]) == 7
    assert _tick(a, "2018-02-14T13:00+08:00")["delivered"] == []
    ids = Counter(r.message_id for r in mail_server.received)
    assert len(ids) == 7 and max(ids.values()) == 1
    assert {m["status"] for m in a.json("outbox", "list")} == {"sent"}


def test_catch_up_after_ten_days_down(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    _tick(a, "2018-02-20T12:00+08:00")  # sends the 14-day reminders
    sent_before = len(mail_server.received)
    report = _tick(a, "2018-03-02T12:00+08:00")  # back after ten days
    # The 7- and 1-day reminders fell due while down, but their deadline has passed: not sent late
    # (the lapse left the stage, which cancels them).
    assert report["reminders"] == []
    app = a.app()
    late = [
        r for r in stored(app, "reminder") if r.offset_days != 14 and r.deliverable_id.startswith("2018/nomination/")
    ]
    assert late and {r.status for r in late} == {"cancelled"}
    assert len(report["lapsed"]) == 10 and len(report["overdue_notices"]) == 10
    new = mail_server.received[sent_before:]
    assert all(r.message["Subject"].startswith("[ASCN] OVERDUE") for r in new) and len(new) == 10
    for entry in a.json("history", "2018/nomination/my"):
        assert utc(entry["effective_at"]) == utc("2018-02-28T23:59:59+08:00")


def test_reminders_due_together_go_out_as_one_message(smtp_ascn: Ascn, mail_server: Any) -> None:
    a = _with_people(smtp_ascn)
    _tick(a, "2018-02-10T12:00+08:00")
    _tick(a, "2018-02-22T12:00+08:00")  # 14- and 7-day reminders both due now
    to_th = mail_server.to("nr@th.example")
    # Counted from the day it goes out (22 February in Bangkok) to the deadline's day (the 28th).
    assert len(to_th) == 1 and "That is in 6 days." in to_th[0].text


def test_per_stage_offsets_and_show(tmp_path: Path, workflows_copy: Path) -> None:
    from .conftest import write_config

    path = workflows_copy / "definitions" / "nomination.toml"
    path.write_text(
        path.read_text().replace(
            'deadline_trigger = "lapse"', 'deadline_trigger = "lapse"\nreminder_offsets_days = [3]'
        )
    )
    config = (
        write_config(tmp_path)
        .read_text()
        .replace(str(Path(__file__).resolve().parent.parent / "workflows"), str(workflows_copy))
    )
    (tmp_path / "config.toml").write_text(config)
    a = Ascn(tmp_path, tmp_path / "config.toml")
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE), actor=ASEC)
    reminders = a.json("show", "2018/nomination/th")["reminders"]
    assert reminders == [
        {
            "recipient": "fp@th.example",
            "offset_days": 3,
            "due_at": "2018-02-23T09:00:00+07:00",
            "stage": "awaiting",
            "status": "planned",
        },
        {
            "recipient": "nr@th.example",
            "offset_days": 3,
            "due_at": "2018-02-23T09:00:00+07:00",
            "stage": "awaiting",
            "status": "planned",
        },
    ]
    assert "Reminders" in a.ok("show", "2018/nomination/th").output


def test_action_plan_overdue_is_flagged_once(ready: Ascn) -> None:
    a = ready
    join(a, "VN", ["Ha Noi", "Da Nang"], submitted="2018-02-20T10:00+08:00", accepted="2018-02-21T10:00+08:00")
    first = _tick(a, "2018-05-26T12:00+08:00")
    assert {"2018/action-plan/da-nang", "2018/action-plan/ha-noi"} <= set(first["overdue_notices"])
    # Reminders to the CSCOs and the NR fell due before, but the deadline has passed: skipped, not sent.
    assert first["reminders"] == []
    plans = [r for r in stored(a.app(), "reminder") if r.deliverable_id.startswith("2018/action-plan/")]
    assert len(plans) == 2 * 2 * 3 and {r.status for r in plans} == {"skipped"}
    assert a.json("show", "2018/action-plan/da-nang", now="2018-05-26T12:00+08:00")["stage"] == "not_started"
    second = _tick(a, "2018-05-27T12:00+08:00")
    assert second["overdue_notices"] == []
    outbox = a.folder / "outbox"
    notices = [p for p in outbox.iterdir() if p.name.startswith("overdue.2018.action-plan.da-nang")]
    assert len(notices) == 1


@pytest.mark.slow
def test_scheduler_process_delivers_and_stops_on_sigterm(ready: Ascn) -> None:
    a = ready
    a.ok("people", "import", a.file("fp.toml", FEBRUARY_PEOPLE), now="2018-01-20T09:00+08:00", actor=ASEC)
    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": "2018-02-14T12:00+08:00"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "scheduler", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen = []
    try:
        while not any("delivered" in ln for ln in seen):
            seen.append(lines.get(timeout=60))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    eml = list((a.folder / "outbox").glob("reminder.*.eml"))
    assert eml and any("nomination.th.1.nr_th.example" in p.name for p in eml)
    while True:
        try:
            seen.append(lines.get(timeout=5))
        except queue.Empty:
            break
    assert any("stopping" in ln for ln in seen) and any("scheduler stopped" in ln for ln in seen)
    # Restarting does not send again: the database remembers what went out.
    files = {p.name: p.stat().st_mtime_ns for p in eml}
    assert a.json("tick", now="2018-02-14T12:00+08:00")["reminders"] == []
    assert {p.name: p.stat().st_mtime_ns for p in (a.folder / "outbox").glob("reminder.*.eml")} == files
