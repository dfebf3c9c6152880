"""Every output right by its standard, checked with parsers this project did not write.

HTML through html5lib (strict: a parse error fails) and real Chromium (layout); .ics through
vobject; mail through Python's `email` with `policy=default`. Formats do not depend on the
database backend, so these tests run on the embedded SQLite only.
"""

from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import html5lib
import pytest
from click.testing import CliRunner

from ascn_workflow.cli import cli
from ascn_workflow.definitions import load

from .conftest import ASEC, NR, SHEPHERD, WORKFLOWS, Ascn, join, write_config

HOSTILE = "<img src=x onerror=alert(1)>"
OBSOLETE = {"align", "bgcolor", "border", "cellpadding", "cellspacing", "valign", "width", "height", "nowrap"}


def parse_html(text: str) -> Any:
    """An HTML5 document as html5lib's strict parser reads it: any parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(text)


def html_problems(doc: Any, text: str) -> list[str]:
    """What HTML5 requires of a document and what this project asks of every page it writes."""
    problems = []
    if not text.lstrip().lower().startswith("<!doctype html>"):
        problems.append("no <!DOCTYPE html>")
    if not doc.get("lang"):
        problems.append("no lang on <html>")
    title = doc.find("head/title")
    if title is None or not (title.text or "").strip():
        problems.append("no <title>")
    for element in doc.iter():
        if not isinstance(element.tag, str) or element.tag in ("svg", "img"):
            continue
        if "}" in element.tag:  # SVG content: its own attributes
            continue
        for attribute in set(element.attrib) & OBSOLETE:
            problems.append(f"obsolete attribute {attribute} on <{element.tag}>")
        if element.tag == "th" and element.get("scope") not in ("col", "row"):
            problems.append(f"<th> without scope: {element.text!r}")
    return problems


def hostile_nomination(code: str, city: str, nr: str) -> str:
    slug = city.lower().replace(" ", "-")
    return (
        f'member_state = "{code}"\n\n[national_representative]\nname = "{HOSTILE}"\nemail = "{nr}"\n\n'
        f'[[cities]]\nname = "{city}"\ncsco = {{ name = "<script>alert(2)</script>", email = "csco@{slug}.example" }}\n'
    )


@pytest.fixture
def hostile(sqlite_ready: Ascn) -> Ascn:
    """Names, a partner and a note that are markup, entered as any user could."""
    a = sqlite_ready
    text = hostile_nomination("TH", "Bangkok", NR["TH"])
    a.ok("nominate", "TH", "--file", a.file("th.toml", text), actor=NR["TH"], now="2018-02-20T10:00+07:00")
    a.ok("advance", "2018/nomination/th", "accept", actor=ASEC, now="2018-02-21T10:00+07:00")
    a.ok(
        "advance",
        "2018/twinning/bangkok",
        "match",
        "--data",
        "partner=<b onmouseover=alert(3)>Japan</b>",
        actor=SHEPHERD,
        now="2018-02-22T10:00+07:00",
    )
    return a


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Ascn:
    """The whole 2018 scenario played on SQLite."""
    folder = tmp_path_factory.mktemp("outputs-year")
    config = write_config(folder)
    db = folder / "sim" / "ascn.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "simulate", "--db", str(db), "--quiet"])
    assert result.exit_code == 0, result.output
    return Ascn(folder, db.parent / "config.toml")


# ---------------------------------------------------------------------------- reports (1-3)


def test_report_html_escapes_every_name_partner_and_address(hostile: Ascn) -> None:
    html = hostile.ok("report", "annual", "2018", "--format", "html").output
    doc = parse_html(html)
    body = doc.find("body")
    tags = {e.tag for e in body.iter() if isinstance(e.tag, str)}
    assert not tags & {"img", "script", "b"}, tags
    text = "".join(body.itertext())
    assert HOSTILE in text and "<script>alert(2)</script>" in text and "<b onmouseover=alert(3)>Japan</b>" in text
    assert f"<{NR['TH']}>" in text  # an address in angle brackets is text, not a bogus element


def test_report_markdown_keeps_markup_and_pipes_out_of_its_tables(hostile: Ascn) -> None:
    md = hostile.ok("report", "annual", "2018").output
    assert HOSTILE not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    twinning = next(line for line in md.splitlines() if line.startswith("| Bangkok |"))
    assert twinning.count("|") - twinning.count("\\|") == 5


def test_report_html_is_valid_html5_with_scoped_headers_and_the_milestones(simulated: Ascn) -> None:
    html = simulated.ok("report", "annual", "2018", "--format", "html", now="2018-11-20T12:00+08:00").output
    doc = parse_html(html)
    assert html_problems(doc, html) == []
    items = doc.findall(".//ul[@id='milestones']/li")
    ids = [li.find("code").text for li in items]
    calendar = load(WORKFLOWS).calendar(2018)
    assert ids == [m.id for m in sorted(calendar.milestones.values(), key=lambda m: (m.start, m.id))]
    assert {"nominations-due", "scgw", "action-plans-due", "annual-meeting", "amm", "jcm", "summit"} <= set(ids)
    scgw = items[ids.index("scgw")].findall("time")
    assert [t.get("datetime") for t in scgw] == ["2018-05-22", "2018-05-25"]


def test_report_is_the_same_bytes_for_the_same_database_and_instant(simulated: Ascn) -> None:
    now = "2018-11-20T12:00+08:00"
    first = simulated.ok("report", "annual", "2018", "--format", "html", now=now).stdout_bytes
    second = simulated.ok("report", "annual", "2018", "--format", "html", now=now).stdout_bytes
    assert first == second
    assert b"Generated 2018-11-20T12:00:00+08:00." in first


@pytest.mark.slow
def test_timeline_labels_overlap_neither_each_other_nor_the_other_marks(simulated: Ascn, tmp_path: Path) -> None:
    """Measured in Chromium: every label's box against every other label and every mark's line."""
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    simulated.ok(
        "report", "annual", "2018", "--format", "html", "--output", str(page_file), now="2018-11-20T12:00+08:00"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            labels, lines = page.evaluate(
                """() => {
                  const svg = document.querySelector('svg');
                  const box = (e) => { const r = e.getBBox(); return [e.textContent, r.x, r.y, r.x + r.width, r.y + r.height]; };
                  const labels = [...svg.querySelectorAll('text.milestone, text.step')].map(box);
                  const lines = [...svg.querySelectorAll('line.milestone, line.step')].map(
                    (l) => [+l.getAttribute('x1'), Math.min(+l.getAttribute('y1'), +l.getAttribute('y2')),
                            Math.max(+l.getAttribute('y1'), +l.getAttribute('y2'))]);
                  return [labels, lines];
                }"""
            )
        finally:
            browser.close()
    names = [label[0] for label in labels]
    assert "scgw" in names and "action-plans-due" in names and "annual-meeting" in names and "amm" in names
    assert "Framework: endorsed_by_ascn" in names
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(labels):
        for b, bx0, by0, bx1, by1 in labels[i + 1 :]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a!r} overlaps {b!r}"
        for x, y0, y1 in lines:
            crosses = ax0 < x < ax1 and y0 < ay1 and ay0 < y1
            assert not crosses, f"a mark's line at x={x} runs through {a!r}"


# ---------------------------------------------------------------------------- helpers for mail tests


def read_mail(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def vcalendar(data: bytes | str) -> Any:
    import vobject

    return vobject.readOne(data.decode("utf-8") if isinstance(data, bytes) else data)


def calendar_part(message: EmailMessage) -> Any:
    return next(p for p in message.walk() if p.get_content_type() == "text/calendar")


@pytest.fixture(scope="module")
def february(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outbox of `ascn simulate --until 2018-03-05`: the February reminders and Myanmar's lapse."""
    folder = tmp_path_factory.mktemp("outputs-february")
    config = write_config(folder)
    db = folder / "sim" / "ascn.db"
    result = CliRunner().invoke(
        cli, ["--config", str(config), "simulate", "--until", "2018-03-05", "--db", str(db), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return db.parent / "outbox"


# ---------------------------------------------------------------------------- calendars (4-6)


def test_calendar_file_by_an_independent_parser(sqlite_ready: Ascn, tmp_path: Path) -> None:
    from datetime import UTC, date, datetime, timedelta

    a = sqlite_ready
    feed = tmp_path / "ascn.ics"
    a.ok("calendar", "--ics", str(feed), now="2018-02-01T09:00+08:00")
    cal = vcalendar(feed.read_bytes())
    assert not hasattr(cal, "method")  # a plain calendar file, not an iTIP message: no ORGANIZER to demand
    events = {e.uid.value: e for e in cal.vevent_list}
    for event in events.values():
        assert event.dtstamp.value == datetime(2018, 2, 1, 1, 0, tzinfo=UTC), "DTSTAMP is when the file was made"
        assert event.dtend.value > event.dtstart.value
    scgw = events["milestone/2018/scgw@ascn-workflow"]
    assert type(scgw.dtstart.value) is date and scgw.dtstart.value_param == "DATE"
    assert (scgw.dtstart.value, scgw.dtend.value) == (date(2018, 5, 22), date(2018, 5, 26))  # DTEND exclusive
    due = events["milestone/2018/nominations-due@ascn-workflow"]
    assert (due.dtstart.value, due.dtend.value) == (date(2018, 2, 28), date(2018, 3, 1))
    vn = events["2018/nomination/vn/awaiting/deadline@ascn-workflow"]
    deadline = datetime(2018, 2, 28, 15, 59, 59, tzinfo=UTC)
    assert vn.dtend.value == deadline and vn.dtend.params["X-VOBJ-ORIGINAL-TZID"] == ["Asia/Ho_Chi_Minh"]
    assert timedelta(0) < vn.dtend.value - vn.dtstart.value <= timedelta(hours=1)
    # Shown in Los Angeles, the deadline is on the 28th there too (07:59:59 PST), not on another day.
    assert vn.dtend.value.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles")).day == 28


def test_a_person_without_deadlines_gets_no_empty_calendar(sqlite_ready: Ascn, tmp_path: Path) -> None:
    a = sqlite_ready
    a.ok(
        "people",
        "add",
        "--email",
        "csco@bangkok.example",
        "--name",
        "CSCO",
        "--role",
        "csco",
        "--city",
        "bangkok",
        actor=ASEC,
    )
    target = tmp_path / "none.ics"
    result = a.run("calendar", "--for", "csco@bangkok.example", "--ics", str(target))
    assert result.exit_code == 3, result.output
    assert "no calendar file written" in result.stderr and "RFC 5545" in result.stderr
    assert not target.exists()


def test_the_same_deadline_comes_back_with_the_same_uid_and_a_higher_sequence(sqlite_ready: Ascn) -> None:
    from ascn_workflow.calendar_feed import event_identity

    a = sqlite_ready
    uid = "2018/nomination/th/awaiting/deadline@ascn-workflow"

    def th() -> dict[str, Any]:
        return next(r for r in a.json("calendar", now="2018-02-21T11:00+07:00") if r["uid"] == uid)

    before = th()
    nomination = hostile_nomination("TH", "Bangkok", NR["TH"])
    a.ok("nominate", "TH", "--file", a.file("th.toml", nomination), actor=NR["TH"], now="2018-02-20T10:00+07:00")
    a.ok(
        "advance",
        "2018/nomination/th",
        "return_for_correction",
        "--note",
        "CSCO missing",
        actor=ASEC,
        now="2018-02-21T10:00+07:00",
    )
    after = th()
    assert after["sequence"] > before["sequence"]
    first, later = event_identity("deadline", "x/y", 3), event_identity("deadline", "x/y", 4)
    assert first.uid == later.uid and later.sequence > first.sequence
    assert event_identity("milestone", "2018/scgw", 0).uid == "milestone/2018/scgw@ascn-workflow"


# ---------------------------------------------------------------------------- mail (5, 7-10)


def test_every_message_is_well_formed_mime_with_a_valid_itip_publish(february: Path) -> None:
    from email.utils import parsedate_to_datetime

    files = sorted(february.glob("*.eml"))
    assert len(files) == 15
    for path in files:
        message = read_mail(path)
        part = calendar_part(message)
        assert part.get_param("method") == "PUBLISH" and part.get_param("charset") == "utf-8", path.name
        cal = vcalendar(part.get_content())
        assert cal.method.value == "PUBLISH"
        (event,) = cal.vevent_list
        assert event.organizer.value == "mailto:ascn-secretariat@asean.example"  # PUBLISH carries its ORGANIZER
        assert event.dtstamp.value == parsedate_to_datetime(message["Date"]), "DTSTAMP is when the mail was made"
        assert event.dtend.value > event.dtstart.value
        html = message.get_body(("html",)).get_content()
        assert html_problems(parse_html(html), html) == [], path.name


def test_reminder_counts_the_days_from_the_day_it_is_sent_in_the_readers_zone(simulated: Ascn) -> None:
    import re
    from datetime import date
    from email.utils import parsedate_to_datetime
    from zoneinfo import ZoneInfo

    moved = 0
    for path in sorted((simulated.config.parent / "outbox").glob("reminder.*.eml")):
        message = read_mail(path)
        text = message.get_body(("plain",)).get_content()
        deadline, zone = re.search(r"Deadline: (\S+) \(your time, ([^)]+)\)", text).groups()
        sent = parsedate_to_datetime(message["Date"]).astimezone(ZoneInfo(zone)).date()
        days = (date.fromisoformat(deadline[:10]) - sent).days
        said = re.search(r"That is (tomorrow|today|in (\d+) days)\.", text)
        assert said is not None
        assert {"tomorrow": 1, "today": 0}.get(said.group(1)) == days or said.group(2) == str(days), path.name
        offset = int(message["Message-ID"].rsplit(".", 1)[-1].split("@")[0].split("-")[0])
        moved += days != offset
    assert moved, "no reminder of 2018 was moved off a weekend: this test would prove nothing"


def test_overdue_notice_gives_each_recipient_their_zone_and_the_ics(february: Path) -> None:
    (path,) = february.glob("overdue.*.eml")
    message = read_mail(path)
    text = message.get_body(("plain",)).get_content()
    assert (
        "Focal point, Myanmar <focal.point@mm.example.org> (focal point): the deadline was 2018-02-28T22:29:59+06:30"
        in text
    )
    assert "(Asia/Yangon)" in text
    cal = vcalendar(calendar_part(message).get_content())
    (event,) = cal.vevent_list
    assert event.uid.value == "2018/nomination/mm/awaiting/deadline@ascn-workflow"  # the reminders' event, updated
    # One Chair: the scenario's explicit chair grant; Singapore's NR is not labelled Chair beside it.
    assert text.count("(Chair of the ASCN)") == 1
    assert "nr@sg.example.org" not in message["Cc"]


def test_without_an_explicit_grant_the_chairing_states_nr_is_the_one_chair(tmp_path: Path) -> None:
    a = Ascn(tmp_path, write_config(tmp_path))
    a.ok("init")
    people = "".join(
        f'[[people]]\nemail = "{e}"\nname = "{n}"\nrole = "{r}"\n' + (f'member_state = "{s}"\n' if s else "") + "\n"
        for e, n, r, s in [
            (ASEC, "ASEC officer", "asec", None),
            (NR["SG"], "NR Singapore", "nr", "SG"),
            (NR["VN"], "NR Viet Nam", "nr", "VN"),
        ]
    )
    a.ok("people", "import", a.file("people.toml", people))
    a.ok("tick", now="2018-03-01T12:00+08:00")
    (path,) = (tmp_path / "outbox").glob("overdue.2018.nomination.vn.*.eml")
    message = read_mail(path)
    text = message.get_body(("plain",)).get_content()
    assert f"NR Singapore <{NR['SG']}> (Chair of the ASCN)" in text
    assert text.count("(Chair of the ASCN)") == 1


def test_mail_html_escapes_hostile_names(hostile: Ascn) -> None:
    hostile.ok("tick", now="2018-05-11T12:00+07:00")  # the action plan's 14-day reminders
    files = sorted((hostile.folder / "outbox").glob("reminder.2018.action-plan.bangkok.*.eml"))
    assert len(files) == 2
    for path in files:
        message = read_mail(path)
        html = message.get_body(("html",)).get_content()
        doc = parse_html(html)
        assert not {e.tag for e in doc.iter() if isinstance(e.tag, str)} & {"img", "script"}
        assert HOSTILE in "".join(doc.find("body").itertext()) or "<script>alert(2)</script>" in "".join(
            doc.find("body").itertext()
        )


# ---------------------------------------------------------------------------- the first hour (12-14)


def readme_block(after: str) -> list[list[str]]:
    """The commands of the README's first ```sh block after the sentence `after`, as argument lists."""
    import shlex

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split(after, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("ascn ")]


def test_readme_look_around_works_verbatim_after_the_february_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No $ASCN_NOW: the folder's own clock must make `status --overdue` show Myanmar alone."""
    monkeypatch.chdir(tmp_path)
    env = {"ASCN_NOW": None, "ASCN_CONFIG": None, "ASCN_ACTOR": None}
    runner = CliRunner()
    played = runner.invoke(cli, ["simulate", "--until", "2018-03-05", "--quiet"], env=env)
    assert played.exit_code == 0, played.output
    assert "[clock] now = 2018-03-05T23:00:00+08:00" in played.output
    for role, address in [("asec", "imd.officer@asec.example.org"), ("focal_point", "focal.point@")]:
        assert any(line.split()[:1] == [role] and address in line for line in played.output.splitlines()), role
    commands = readme_block("Then look around")
    assert len(commands) >= 3
    outputs = {}
    for args in commands:
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, f"ascn {' '.join(args)}: {result.output}"
        outputs[" ".join(args[2:])] = result.output
    overdue = outputs["status --overdue"]
    assert overdue.count("OVERDUE") == 1 and "2018/nomination/mm" in overdue
    assert "1 deliverable" in overdue and "1 deliverables" not in overdue
    mine = outputs["--actor focal.point@mm.example.org show 2018/nomination/mm"]
    assert "you may:  submit: ascn --actor focal.point@mm.example.org nominate MM --file NOMINATION.toml" in mine
    # $ASCN_NOW still overrides the folder's clock.
    later = runner.invoke(
        cli,
        ["--config", "simulation/config.toml", "status", "--overdue"],
        env={**env, "ASCN_NOW": "2018-12-01T00:00+08:00"},
    )
    assert later.output.count("OVERDUE") > 1


def test_an_unknown_actor_is_pointed_to_the_directory(sqlite_ready: Ascn) -> None:
    result = sqlite_ready.run("show", "2018/nomination/th", actor="nobody@th.example")
    assert result.exit_code == 5
    assert "`ascn people list`" in result.stderr


# ---------------------------------------------------------------------------- the command line (15-18)


def test_ascn_alone_prints_the_help_on_stdout_and_exits_0() -> None:
    result = CliRunner().invoke(cli, [], prog_name="ascn", env={"ASCN_CONFIG": None})
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ascn") and "simulate" in result.stdout and result.stderr == ""


def test_at_refusals_keep_the_offset_typed(sqlite_ready: Ascn) -> None:
    a = sqlite_ready
    future = a.run("advance", "2018/framework", "circulate", "--at", "2018-03-20T10:00+07:00", actor=ASEC)
    assert future.exit_code == 2
    assert "--at 2018-03-20T10:00:00+07:00 is in the future (now is 2018-01-15T08:00:00+07:00)" in future.stderr


def test_a_missing_config_file_is_not_found(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "status"])
    assert missing.exit_code == 3 and "config file" in missing.stderr


def _on_a_terminal(a: Ascn, *args: str, no_color: bool) -> tuple[str, str]:
    """Run `ascn` as a separate process whose stdout and stderr are a real pseudo-terminal."""
    import os
    import pty
    import subprocess
    import sys

    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": "2018-03-05T12:00+08:00", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    outputs = []
    for stream in ("stdout", "stderr"):
        leader, follower = pty.openpty()
        kwargs: dict[str, Any] = {stream: follower}
        process = subprocess.Popen([sys.executable, "-m", "ascn_workflow", *args], env=env, **kwargs)
        process.wait(timeout=120)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        outputs.append(b"".join(chunks).decode("utf-8", "replace"))
    return outputs[0], outputs[1]


def colours(text: str) -> list[str]:
    """The SGR parameters that set a foreground or background colour (30-49, 90-107)."""
    import re

    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        found += [p for p in params.split(";") if p.isdigit() and (30 <= int(p) <= 49 or 90 <= int(p) <= 107)]
    return found


@pytest.mark.slow
def test_overdue_and_errors_in_colour_on_a_terminal_only_and_never_under_no_color(sqlite_ready: Ascn) -> None:
    a = sqlite_ready
    a.ok("tick", now="2018-03-01T12:00+08:00")
    out, _ = _on_a_terminal(a, "status", "--overdue", no_color=False)
    _, err = _on_a_terminal(a, "show", "2018/nomination/xx", no_color=False)
    assert "OVERDUE" in out and colours(out) and "ascn: " in err and colours(err)
    plain_out, _ = _on_a_terminal(a, "status", "--overdue", no_color=True)
    _, plain_err = _on_a_terminal(a, "show", "2018/nomination/xx", no_color=True)
    assert "OVERDUE" in plain_out and not colours(plain_out)  # bold may stay: NO_COLOR is about colour
    assert "ascn: " in plain_err and not colours(plain_err)
    piped = a.run("status", "--overdue", now="2018-03-05T12:00+08:00")
    assert "OVERDUE" in piped.output and "\x1b[" not in piped.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["show", "2018/nomination/tj"], "no deliverable '2018/nomination/tj' (did you mean '2018/nomination/th'?)"),
        (["status", "--workflow", "nominaton"], "unknown workflow 'nominaton' (did you mean 'nomination'?)"),
        (["status", "--state", "awaitng"], "no workflow has a stage 'awaitng' (did you mean 'awaiting'?)"),
        (["status", "--member-state", "VNM"], "unknown member state 'VNM' (did you mean 'VN'?)"),
        (["status", "--cycle", "2031"], "no calendar for cycle 2031"),
        (["project", "add", "bangkk", "--title", "Lights"], "'bangkk' is not a member city (did you mean 'bangkok'?)"),
    ],
)
def test_unknown_names_are_not_found_with_a_suggestion(sqlite_ready: Ascn, args: list[str], says: str) -> None:
    result = sqlite_ready.run(*args, actor=ASEC)
    assert result.exit_code == 3, result.output
    assert says in result.stderr and result.stdout == ""


def _scheduler_log(a: Ascn, *flags: str) -> list[str]:
    """Run `ascn scheduler` until its first pass that did something, a few passes more, then SIGTERM."""
    import os
    import queue
    import signal
    import subprocess
    import sys
    import threading
    import time

    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": "2018-02-14T12:00+08:00"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "scheduler", "--interval", "0.2", *flags],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        while not any(": pass at " in ln for ln in seen):
            seen.append(lines.get(timeout=60))
        time.sleep(1.5)  # several idle passes at 0.2 s: they must not add lines at INFO
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    while True:
        try:
            seen.append(lines.get(timeout=3))
        except queue.Empty:
            return seen


@pytest.mark.slow
def test_scheduler_logs_one_line_per_pass_with_counts_and_more_with_v(sqlite_ready: Ascn) -> None:
    from .conftest import FEBRUARY_PEOPLE

    a = sqlite_ready
    a.ok("people", "import", a.file("fp.toml", FEBRUARY_PEOPLE), now="2018-01-20T09:00+08:00", actor=ASEC)
    quiet = _scheduler_log(a)
    passes = [ln for ln in quiet if ": pass at " in ln]
    assert len(passes) == 1, quiet
    assert " INFO ascn.scheduler: pass at 2018-02-14T04:00:00+00:00: " in passes[0]
    assert passes[0].rstrip().endswith(": 7 reminders, 7 messages delivered"), passes[0]
    assert not [ln for ln in quiet if "apscheduler" in ln or "ascn.due" in ln], quiet
    assert all(" INFO " in ln for ln in quiet), quiet
    # -v: each item of work and APScheduler's per-job lines (the reminders were sent: only job lines now).
    verbose = _scheduler_log(a, "-v")
    assert any("apscheduler" in ln and "executed successfully" in ln for ln in verbose), verbose
    assert any("DEBUG ascn.scheduler: pass at" in ln and "nothing due" in ln for ln in verbose)


def _complete(a: Ascn, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {
        "ASCN_CONFIG": str(a.config),
        "_ASCN_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    result = CliRunner().invoke(cli, [], prog_name="ascn", env=env)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


def test_shell_completion_of_deliverable_ids_triggers_and_workflows(sqlite_ready: Ascn) -> None:
    a = sqlite_ready
    assert _complete(a, "ascn show 2018/nomination/t") == ["2018/nomination/th"]
    assert _complete(a, "ascn history 2018/fr") == ["2018/framework"]
    assert _complete(a, "ascn advance 2018/nomination/th ") == ["submit"]
    assert _complete(a, "ascn advance 2018/framework ") == ["circulate"]
    assert _complete(a, "ascn diagram twin") == ["twinning", "twinning-follow-up"]
    assert _complete(a, "ascn status --workflow action") == ["action-plan"]
    assert _complete(a, "ascn sim") == ["simulate"]  # click's own: commands


def test_readme_first_acts_work_verbatim_on_the_february_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's acting block runs as written after `ascn simulate --until 2018-03-05`."""
    monkeypatch.chdir(tmp_path)
    env = {"ASCN_NOW": None, "ASCN_CONFIG": None, "ASCN_ACTOR": None}
    runner = CliRunner()
    assert runner.invoke(cli, ["simulate", "--until", "2018-03-05", "--quiet"], env=env).exit_code == 0
    commands = readme_block("Then act, as")
    assert len(commands) >= 4
    for args in commands:
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, f"ascn {' '.join(args)}: {result.output}"
    history = runner.invoke(
        cli, ["--config", "simulation/config.toml", "history", "2018/nomination/mm", "--json"], env=env
    )
    assert [e["trigger"] for e in json.loads(history.output)][-2:] == ["lapse", "extend"]


def test_readme_sample_nomination_file_is_accepted_by_the_rules(sqlite_ready: Ascn) -> None:
    """The nomination file under Files passes every submit rule as printed (no waiver needed)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    sample = readme.split("Nomination file for `ascn nominate XX --file FILE`:", 1)[1]
    sample = sample.split("```toml\n", 1)[1].split("```", 1)[0]
    a = sqlite_ready
    a.ok("nominate", "TH", "--file", a.file("th-nomination.toml", sample), actor=ASEC, now="2018-02-20T10:00+07:00")
    assert a.json("show", "2018/nomination/th")["stage"] == "submitted"


def _drawn_by_rich(title: str | None, columns: list[str], rows: list[list[Any]]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = io.StringIO()
    console = Console(file=out, width=160, soft_wrap=False, highlight=False, no_color=True, force_terminal=False)
    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*(Text("" if v is None else str(v)) for v in row))
    console.print(t)
    return out.getvalue()


def test_tables_drawn_without_rich_are_the_tables_rich_draws() -> None:
    """Output that is no terminal gets its tables drawn without importing rich (start-up, issue 15):
    byte for byte what rich draws, and rich draws whatever the plain drawing would get wrong."""
    import random

    from ascn_workflow.cli.render import plain_table

    rnd = random.Random(15)
    alphabet = "abcXYZ019 -:;,./()@_'\"&ộĐưé[]\\\tกห★"
    drawn = 0
    for _ in range(3000):
        n = rnd.randint(1, 6)
        columns = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))) for _ in range(n)]
        rows = [
            [
                rnd.choice([None, 7, "".join(rnd.choice(alphabet) for _ in range(rnd.choice([0, 1, 5, 30, 90])))])
                for _ in range(n)
            ]
            for _ in range(rnd.randint(0, 4))
        ]
        title = rnd.choice([None, "Next", "History", "x" * rnd.randint(1, 170)])
        plain = plain_table(title, columns, rows)
        if plain is not None:
            drawn += 1
            assert plain + "\n" == _drawn_by_rich(title, columns, rows), (title, columns, rows)
    for width in range(150, 166):  # at the edge of the width rich draws at
        rows = [["x" * (width - 8), "y"]]
        plain = plain_table("T", ["a", "b"], rows)
        assert (plain is None) == (width > 160), width
        if plain is not None:
            assert plain + "\n" == _drawn_by_rich("T", ["a", "b"], rows)
    assert drawn > 50


def test_report_markdown_makes_no_link_or_emphasis_of_a_name(ready: Ascn) -> None:
    """A Markdown viewer (CommonMark, here markdown-it) turned a partner named `[x](javascript:…)`
    into a link in the report for the JCM, and `**…**` into bold: names are text in every format."""
    from markdown_it import MarkdownIt

    join(ready, "VN", ["Ha Noi", "Da Nang"], nr=NR["VN"])
    partner = "Evil [click](javascript:alert(1)) **loud** `code` back\\slash"
    ready.ok("advance", "2018/twinning/da-nang", "match", "--data", f"partner={partner}", actor=ASEC)
    md = ready.ok("report", "annual", "2018", now="2018-03-01T10:00+07:00").output
    assert "| Da Nang |" in md
    html = MarkdownIt("commonmark").enable("table").render(md)
    cell = re.search(r"<td>Evil.*?</td>", html)
    assert cell is not None, html
    assert not re.search(r"<a |<strong>|<code>", cell.group(0)), cell.group(0)
    assert cell.group(0) == f"<td>{partner}</td>"  # the name itself, every character kept
