"""Seeing the year: calendar feeds, state diagrams and the annual report, generated from the database."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from ascn_workflow.cli import cli
from ascn_workflow.diagrams import mermaid
from ascn_workflow.spec import Definitions

from .conftest import NR, ROOT, Ascn, nomination, stored, utc

# ---------------------------------------------------------------------------- calendar


def test_calendar_ics_round_trip(ready: Ascn, tmp_path: Path) -> None:
    a = ready
    a.ok("nominate", "TH", "--file", a.file("th.toml", nomination("TH", ["Bangkok"], NR["TH"])), actor=NR["TH"])
    a.ok("advance", "2018/nomination/th", "accept", actor="officer@asec.example")
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    a.ok("calendar", "--ics", str(first), now="2018-02-01T09:00+08:00")
    a.ok("calendar", "--ics", str(second), now="2018-02-02T09:00+08:00")
    cal = Calendar.from_ical(first.read_bytes())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    zones = {str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")}
    milestones = [u for u in events if u.startswith("milestone/2018/")]
    assert len(milestones) == 9  # the eight of SPEC §4 and the establishment (28 Apr 2018)
    assert "milestone/2018/establishment@ascn-workflow" in events
    scgw = events["milestone/2018/scgw@ascn-workflow"]
    # All-day: the workshop's days, DTEND exclusive (RFC 5545 §3.6.1), the same in every zone.
    assert scgw.decoded("dtstart") == date(2018, 5, 22)
    assert scgw.decoded("dtend") == date(2018, 5, 26)
    vn = events["2018/nomination/vn/awaiting/deadline@ascn-workflow"]
    assert vn.decoded("dtend") == utc("2018-02-28T23:59:59+08:00")
    assert vn.decoded("dtstart") < vn.decoded("dtend")
    assert str(vn.decoded("dtend").tzinfo) == "Asia/Ho_Chi_Minh"
    assert "2018/action-plan/bangkok/not_started/deadline@ascn-workflow" in events
    assert {"Asia/Singapore", "Asia/Ho_Chi_Minh", "Asia/Bangkok"} <= zones
    # Stable UIDs: a second export has the same events, so a re-import updates them.
    assert {str(e["uid"]) for e in Calendar.from_ical(second.read_bytes()).walk("VEVENT")} == set(events)


def test_calendar_for_a_person(ready: Ascn) -> None:
    rows = ready.json("calendar", "--for", NR["TH"])
    assert [r["id"] for r in rows] == ["2018/nomination/th"]
    assert rows[0]["start"] == "2018-02-28T22:59:59+07:00"
    missing = ready.run("calendar", "--for", "nobody@x.example")
    assert missing.exit_code == 3
    assert "nominations-due" in ready.ok("calendar").output


# ---------------------------------------------------------------------------- diagrams


def test_mermaid_has_every_transition(defs: Definitions, ready: Ascn) -> None:
    for wf in defs.workflows.values():
        text = ready.ok("diagram", wf.name).output
        assert text.startswith("stateDiagram-v2") and f"[*] --> {wf.initial}" in text
        for t in wf.transitions:
            for source in t.sources:
                assert f"{source} --> {t.dest}: {t.trigger}" in text
    highlighted = ready.ok("diagram", "nomination", "--highlight", "2018/nomination/th").output
    assert "class awaiting current" in highlighted


def test_dot_and_svg(ready: Ascn, tmp_path: Path) -> None:
    dot = ready.ok("diagram", "framework", "--format", "dot").output
    assert (
        '"revised" -> "endorsed_by_ascn" [label="endorse (annual-meeting-convened, document-attached)\\n[chair, asec]"]'
        in dot
    )
    if shutil.which("dot") is None:
        pytest.fail("Graphviz is needed for SVG diagrams (apt-get install graphviz; .ci/run installs it)")
    out = tmp_path / "framework.svg"
    ready.ok("diagram", "framework", "--format", "svg", "--highlight", "2018/framework", "--output", str(out))
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "#f9d65c" in svg and "drafting" in svg
    wrong = ready.run("diagram", "framework", "--highlight", "2018/nomination/th")
    assert wrong.exit_code == 2 and "nomination deliverable" in wrong.stderr
    assert ready.run("diagram", "parade").exit_code == 3


def test_readme_diagrams_match_the_definitions(defs: Definitions) -> None:
    readme = (ROOT / "README.md").read_text()
    for wf in defs.workflows.values():
        block = f"<!-- diagram:{wf.name} -->\n```mermaid\n{mermaid(wf)}```"
        assert block in readme, f"README's diagram of {wf.name} is missing or stale: ascn diagram {wf.name}"


# ---------------------------------------------------------------------------- the annual report


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .conftest import write_config

    folder = tmp_path_factory.mktemp("year")
    config = write_config(folder)
    db = folder / "sim" / "ascn.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "simulate", "--db", str(db), "--quiet"])
    assert result.exit_code == 0, result.output
    return Ascn(folder, db.parent / "config.toml")


def test_report_figures_match_the_database(simulated: Ascn) -> None:
    now = "2018-11-20T12:00+08:00"
    data = simulated.json("report", "annual", "2018", now=now)
    app = simulated.app()
    rows = [r for r in stored(app, "deliverable") if r.cycle == 2018]
    waivers = [h for h in stored(app, "history") if h.waivers]
    cities = {r.city for r in rows if r.workflow == "action-plan"}
    twins = [r for r in rows if r.workflow == "twinning"]
    expected = {
        "member_states": len({r.member_state for r in rows if r.workflow == "action-plan"}),
        "member_cities": len(cities),
        "nominations_accepted": sum(r.workflow == "nomination" and r.stage == "accepted" for r in rows),
        "action_plans": sum(r.workflow == "action-plan" for r in rows),
        "action_plans_noted": sum(r.workflow == "action-plan" and r.stage == "noted" for r in rows),
        "twinning_pairs": sum(r.stage in ("matched", "finalised", "announced", "noted") for r in twins),
        "twinning_opt_outs": sum(r.stage == "opted_out" for r in twins),
        "overdue": sum(r.deadline is not None and r.deadline < utc(now) for r in rows),
        "waivers": len(waivers),
        "progress_reviews": 0,
        "progress_reviews_published": 0,
        "projects": 0,
        "projects_dropped": 0,
    }
    assert data["figures"] == expected
    assert expected["member_cities"] == 26 and expected["twinning_opt_outs"] == 1 and expected["waivers"] == 1
    partners = {p["city"]: p["partner"] for p in data["twinning"]["pairs"]}
    assert partners["Da Nang"] == "Japan" and len(partners) == expected["twinning_pairs"]
    assert data["framework"]["stage"] == "adopted"
    mm = next(n for n in data["nominations"] if n["member_state"] == "MM")
    assert mm["lapsed"] == "2018-02-28T23:59:59+08:00" and mm["accepted"]
    assert data["waived"][0]["rule"] == "max-cities" and data["waived"][0]["deliverable_id"] == "2018/nomination/my"

    html = simulated.ok("report", "annual", "2018", "--format", "html", now=now).output
    for key, value in expected.items():
        assert re.search(rf'id="{key}">{value}<', html), key
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<svg" in html and "Da Nang" in html and "Japan" in html
    md = simulated.ok("report", "annual", "2018", now=now).output
    assert f"| member cities | {expected['member_cities']} |" in md and "| Da Nang | VN | Japan | noted |" in md


def test_report_says_which_framework_version_each_body_endorsed(simulated: Ascn) -> None:
    from html.parser import HTMLParser

    now = "2018-11-20T12:00+08:00"
    data = simulated.json("report", "annual", "2018", now=now)
    endorsed = [(e["body"], e["version_number"], e["meeting"], e["at"][:10]) for e in data["framework"]["endorsements"]]
    assert endorsed == [
        ("ASCN", 2, "First annual meeting of the ASCN, with the World Cities Summit", "2018-07-08"),
        ("JCM", 2, "Joint Consultative Meeting: notes plans and partners, endorses the Framework", "2018-10-15"),
        ("ASEAN Leaders", 2, "33rd ASEAN Summit: Leaders launch the ASCN and adopt the Framework", "2018-11-13"),
    ]

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside, self.rows = False, []  # type: ignore[var-annotated]

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table" and ("id", "framework_versions") in attrs:
                self.inside = True
            elif self.inside and tag == "tr":
                self.rows.append([])

        def handle_endtag(self, tag: str) -> None:
            if tag == "table":
                self.inside = False

        def handle_data(self, text: str) -> None:
            if self.inside and self.rows and text.strip():
                self.rows[-1].append(text.strip())

    cells = Cells()
    cells.feed(simulated.ok("report", "annual", "2018", "--format", "html", now=now).output)
    assert [row[0] for row in cells.rows] == ["body", "ASCN", "JCM", "ASEAN Leaders"]
    assert all(row[1].startswith("2 (") for row in cells.rows[1:])
    md = simulated.ok("report", "annual", "2018", now=now).output
    assert "| ASCN | 2 (" in md and "Not endorsed yet" not in md


@pytest.mark.slow
def test_report_renders_in_headless_chromium(simulated: Ascn, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("headless Chromium is needed (apt-get install chromium; .ci/run installs it)")
    page = tmp_path / "report.html"
    simulated.ok("report", "annual", "2018", "--format", "html", "--output", str(page), now="2018-11-20T12:00+08:00")
    png = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,1600",
        f"--screenshot={png}",
    ]
    subprocess.run([browser, *flags, page.as_uri()], capture_output=True, timeout=120, check=False)
    assert png.exists(), "Chromium made no screenshot"
    image = Image.open(png).convert("L")
    assert image.size == (1100, 1600)
    assert ImageStat.Stat(image).stddev[0] > 10  # not blank: text, tables and the timeline
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 20


def test_report_json_for_an_empty_cycle(ready: Ascn) -> None:
    data = json.loads(ready.ok("report", "annual", "2018", "--json").stdout)
    assert data["figures"]["member_cities"] == 0 and data["framework"]["stage"] == "drafting"
