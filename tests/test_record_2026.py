"""The record to 2026 as data: establishment, the real annual meetings, the shepherd per cycle, the
real expansions as playable nominations, and Timor-Leste in the network from the 2026 cycle."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from msgspec.structs import replace

from ascn_workflow.app import App
from ascn_workflow.config import load_config
from ascn_workflow.dates import show
from ascn_workflow.definitions import Definitions
from ascn_workflow.planning import previous_working_day
from ascn_workflow.simulation import load_scenario, play

from .conftest import ASEC, WORKFLOWS, Ascn, nomination, write_config

REAL_ANNUAL_MEETINGS = {
    2019: (date(2019, 8, 22), date(2019, 8, 23)),
    2020: (date(2020, 7, 17), date(2020, 7, 17)),
    2021: (date(2021, 8, 30), date(2021, 8, 30)),
    2022: (date(2022, 8, 30), date(2022, 8, 30)),
    2023: (date(2023, 7, 12), date(2023, 7, 13)),
    2024: (date(2024, 7, 30), date(2024, 7, 30)),
    2025: (date(2025, 9, 9), date(2025, 9, 11)),
}


def test_establishment_and_real_annual_meetings(defs: Definitions) -> None:
    est = defs.calendar(2018).milestone("establishment")
    assert est.start == est.end == date(2018, 4, 28) and est.zone == "Asia/Singapore"
    for year, (start, end) in REAL_ANNUAL_MEETINGS.items():
        meeting = defs.calendar(year).milestone("annual-meeting")
        assert (meeting.start, meeting.end) == (start, end), year
        # the annual report follows the meeting and precedes the JCM, which precedes the Summit
        cal = defs.calendar(year)
        assert meeting.end < cal.milestone("annual-report-due").start < cal.milestone("jcm").start
        assert cal.milestone("jcm").start < cal.milestone("summit").start


def test_every_unconfirmed_date_says_so() -> None:
    """2026's meeting was not announced: every dated line of its calendar is marked an assumption."""
    lines = (WORKFLOWS / "calendars" / "2026.toml").read_text().splitlines()
    dated = [ln for ln in lines if ln.startswith("date =")]
    assert dated and all("assumption" in ln for ln in dated)
    jcm_2018 = next(ln for ln in (WORKFLOWS / "calendars" / "2018.toml").read_text().splitlines() if "2018-10-15" in ln)
    assert "assumption" in jcm_2018


def test_shepherd_and_chair_by_cycle(defs: Definitions) -> None:
    assert [defs.shepherd(y) for y in range(2018, 2027)] == ["SG"] * 5 + ["ID"] * 4
    assert defs.shepherd(2030) == "ID"  # the last named shepherd until a calendar says otherwise
    assert defs.chair(2026) == "PH" and defs.calendar(2026).zone == "Asia/Manila"


def test_timor_leste_from_2026(defs: Definitions) -> None:
    tl = defs.network.member_state("TL")
    assert tl.name == "Timor-Leste" and tl.zone == "Asia/Dili" and tl.since == 2026
    assert "TL" not in defs.network.in_cycle(2025) and len(defs.network.in_cycle(2018)) == 10
    assert len(defs.network.in_cycle(2026)) == 11
    pilots = [c for c in defs.network.cities if defs.network.member_state(c.member_state).since is None]
    assert len(pilots) == 26
    # Restoration of Independence Day (Wed 20 May 2026) is a public holiday in Timor-Leste only.
    assert previous_working_day(date(2026, 5, 20), "TL") == date(2026, 5, 19)
    assert previous_working_day(date(2026, 5, 20), "PH") == date(2026, 5, 20)


SHEPHERDS = """
[[people]]
email = "shepherd@mnd-sg.example"
name = "Shepherd, Singapore"
role = "shepherd"
member_state = "SG"

[[people]]
email = "shepherd@pupr-id.example"
name = "Shepherd, Indonesia"
role = "shepherd"
member_state = "ID"
"""


def test_a_shepherd_acts_only_in_its_cycles(ascn: Ascn) -> None:
    ascn.ok("init")
    ascn.ok("people", "add", "--email", ASEC, "--name", "ASEC", "--role", "asec")  # the directory's first
    ascn.ok("people", "import", ascn.file("shepherds.toml", SHEPHERDS), actor=ASEC)
    listed = {p["email"]: p for p in ascn.json("people", "list")}
    assert listed["shepherd@pupr-id.example"]["member_state"] == "ID"
    refused = ascn.run(
        "advance", "2018/scgw", "convene", actor="shepherd@pupr-id.example", now="2018-05-22T09:00+08:00"
    )
    assert refused.exit_code == 5 and "shepherd" in refused.stderr
    ascn.ok("advance", "2018/scgw", "convene", actor="shepherd@mnd-sg.example", now="2018-05-22T09:00+08:00")
    ascn.ok("cycle", "open", "2023", now="2023-01-09T09:00+07:00")
    late = ascn.run(
        "advance", "2023/annual-meeting", "convene", actor="shepherd@mnd-sg.example", now="2023-07-12T09:00+08:00"
    )
    assert late.exit_code == 5
    ascn.ok("advance", "2023/annual-meeting", "convene", actor="shepherd@pupr-id.example", now="2023-07-12T09:00+08:00")
    cycles = {c["cycle"]: c for c in ascn.json("cycle", "list", now="2023-07-12T10:00+08:00")}
    assert (cycles[2022]["shepherd"], cycles[2023]["shepherd"], cycles[2026]["chair"]) == ("SG", "ID", "PH")
    assert ascn.json("history", "2023/annual-meeting")[0]["role"] == "shepherd"


def test_timor_leste_nominates_in_2026_not_before(ascn: Ascn) -> None:
    ascn.ok("init")
    ids = {r["id"] for r in ascn.json("status")}
    assert "2018/nomination/tl" not in ids and "2018/nomination/th" in ids
    ascn.ok("people", "add", "--email", ASEC, "--name", "ASEC", "--role", "asec")
    text = nomination("TL", ["Dili"], "nr@tl.example")
    early = ascn.run(
        "nominate",
        "TL",
        "--file",
        ascn.file("tl.toml", text),
        "--cycle",
        "2025",
        actor=ASEC,
        now="2025-02-10T10:00+09:00",
    )
    assert early.exit_code == 4 and "2026" in early.stderr
    ascn.ok("cycle", "open", "2026", now="2026-01-12T09:00+08:00")
    ascn.ok(
        "nominate",
        "TL",
        "--file",
        ascn.file("tl.toml", text),
        "--cycle",
        "2026",
        actor=ASEC,
        now="2026-02-10T10:00+09:00",
    )
    ascn.ok("advance", "2026/nomination/tl", "accept", actor=ASEC, now="2026-02-20T10:00+09:00")
    dili = ascn.json("show", "2026/action-plan/dili", now="2026-02-20T11:00+09:00")
    assert dili["member_state"] == "TL"
    reminders = [r for r in dili["reminders"] if r["recipient"] == "csco@dili.example"]
    # reminders at 09:00 in Dili (UTC+9), never on a Sunday or a Saturday
    assert reminders and all(r["due_at"].endswith("T09:00:00+09:00") for r in reminders)


def test_the_real_expansions_play_after_2018(tmp_path: Path) -> None:
    """2018 up to the last acceptance, then the 2023, 2024 and 2025 expansions on the same database."""
    app = App(load_config(write_config(tmp_path), explicit=True))
    defs = app.definitions
    play(app, load_scenario(WORKFLOWS / "scenarios" / "2018.toml", defs), date(2018, 3, 9))
    joined: dict[int, set[str]] = {}
    for cycle in (2023, 2024, 2025):
        scenario = load_scenario(WORKFLOWS / "scenarios" / f"{cycle}.toml", defs)
        play(App(replace(app.config, cycle=2018)), scenario)  # the config's cycle does not decide
        with app.store.read() as tx:
            cities = tx.cities()
        joined[cycle] = {c.slug for c in cities if c.joined_cycle == cycle}
    assert joined == {
        2023: {"chiang-mai", "khon-kaen", "rayong"},
        2024: {"sumedang", "sihanoukville"},
        2025: {"cauayan-city"},
    }
    with app.store.read() as tx:
        members = tx.cities(members=True)
        thailand = tx.deliverable("2023/nomination/th")
    assert len(members) == 32 and thailand.stage == "accepted"
    assert show(thailand.last_event_at, "Asia/Bangkok") == "2023-03-07T15:00:00+07:00"


@pytest.mark.parametrize("cycle", [2023, 2024, 2025])
def test_expansion_scenarios_name_real_cities(cycle: int, defs: Definitions) -> None:
    scenario = load_scenario(WORKFLOWS / "scenarios" / f"{cycle}.toml", defs)
    nominated = [s for s in scenario.steps if s.nomination is not None]
    assert nominated and all(s.waivers.get("max-cities") for s in nominated)
    assert all(c["new"] for s in nominated for c in s.nomination["cities"])  # type: ignore[index]
