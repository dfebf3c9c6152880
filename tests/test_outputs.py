"""Every output right by its standard, checked with parsers this project did not write.

HTML through html5lib (strict: a parse error fails) and real Chromium (layout); .ics through
vobject; mail through Python's `email` with `policy=default`. Formats do not depend on the
database backend, so these tests run on the embedded SQLite only.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import html5lib
import pytest
from click.testing import CliRunner

from ascn_workflow.cli import cli

from .conftest import ASEC, NR, PEOPLE, SHEPHERD, Ascn, write_config

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


@pytest.fixture
def sqlite_ready(tmp_path: Path) -> Ascn:
    """2018 opened on SQLite, with ASEC, the shepherd, the Chair and four NRs."""
    a = Ascn(tmp_path, write_config(tmp_path))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    return a


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
    assert ids == [
        "nominations-due",
        "framework-circulation",
        "scgw",
        "action-plans-due",
        "annual-meeting",
        "amm",
        "jcm",
        "summit",
    ]
    scgw = items[2].findall("time")
    assert [t.get("datetime") for t in scgw] == ["2018-05-22", "2018-05-25"]


def test_report_is_the_same_bytes_for_the_same_database_and_instant(simulated: Ascn) -> None:
    now = "2018-11-20T12:00+08:00"
    first = simulated.ok("report", "annual", "2018", "--format", "html", now=now).stdout_bytes
    second = simulated.ok("report", "annual", "2018", "--format", "html", now=now).stdout_bytes
    assert first == second
    assert b"Generated 2018-11-20T12:00:00+08:00." in first


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
