"""`ascn simulate`: the scenario played on a fresh embedded database, as the README's main job."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ascn_workflow.cli import cli

from .conftest import WORKFLOWS, Ascn, write_config


@pytest.fixture
def ascn(tmp_path: Path) -> Ascn:
    """Simulations always run on their own embedded SQLite file: no backend to vary."""
    return Ascn(tmp_path, write_config(tmp_path))


def _simulate(a: Ascn, *args: str) -> dict:
    result = CliRunner().invoke(
        cli, ["--config", str(a.config), "simulate", "--db", str(a.folder / "sim" / "ascn.db"), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_february_demo(ascn: Ascn) -> None:
    summary = _simulate(ascn, "--until", "2018-03-05")
    stages = {r["id"]: r["stage"] for r in summary["deliverables"]}
    assert stages["2018/nomination/mm"] == "overdue"
    assert stages["2018/nomination/my"] == "accepted" and stages["2018/action-plan/kuching"] == "not_started"
    assert summary["deadlines_passed"] == ["2018/nomination/mm: awaiting -> overdue at 2018-02-28T23:59:59+08:00"]
    outbox = Path(summary["outbox"])
    emls = sorted(p.name for p in outbox.glob("*.eml"))
    assert len(emls) == summary["messages"] == summary["reminders"] + 1
    assert any(name.startswith("overdue.2018.nomination.mm") for name in emls)
    # Myanmar never submitted by the deadline: 14-, 7- and 1-day reminders to its focal point.
    assert sum(name.startswith("reminder.2018.nomination.mm") for name in emls) == 3
    # The simulation's own config lets the user look around afterwards.
    status = CliRunner().invoke(
        cli,
        ["--config", str(ascn.folder / "sim" / "config.toml"), "status", "--json"],
        env={"ASCN_NOW": "2018-03-05T12:00+08:00"},
    )
    assert status.exit_code == 0 and len(json.loads(status.stdout)) == len(summary["deliverables"])


def test_whole_year(ascn: Ascn) -> None:
    summary = _simulate(ascn)
    stages = {r["id"]: r["stage"] for r in summary["deliverables"]}
    assert stages["2018/framework"] == "adopted" and stages["2018/launch"] == "launched"
    assert stages["2018/annual-report"] == "reported"
    assert stages["2018/twinning/makassar"] == "opted_out" and stages["2018/twinning/da-nang"] == "noted"
    assert all(stage == "noted" for key, stage in stages.items() if key.startswith("2018/action-plan/"))
    assert "2018/action-plan/yangon" in summary["overdue_notices"]


def test_a_failing_step_names_step_rule_and_date(ascn: Ascn, tmp_path: Path) -> None:
    """Malaysia's own focal point submits four cities without the shepherd's waiver: refused."""
    scenario = (WORKFLOWS / "scenarios" / "2018.toml").read_text()
    lines = scenario.splitlines()
    at = lines.index('nominate = "MY"')
    assert lines[at - 1] == 'actor = "shepherd@mnd-sg.example.org"' and lines[at + 1].startswith("waive = ")
    lines[at - 1] = 'actor = "focal.point@my.example.org"'
    del lines[at + 1]
    bad = tmp_path / "bad.toml"
    bad.write_text("\n".join(lines))
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(ascn.config),
            "simulate",
            "--db",
            str(tmp_path / "sim" / "ascn.db"),
            "--scenario",
            str(bad),
            "--quiet",
        ],
    )
    assert result.exit_code == 4, result.output
    assert "nominate MY" in result.stderr and "max-cities" in result.stderr and "2018-02-27" in result.stderr


def test_simulate_refuses_to_wipe_a_real_database(ascn: Ascn) -> None:
    ascn.ok("init")
    result = CliRunner().invoke(
        cli, ["--config", str(ascn.config), "simulate", "--db", str(ascn.folder / "ascn.db"), "--quiet"]
    )
    assert result.exit_code == 2 and "not a simulation" in result.stderr
    assert (ascn.folder / "ascn.db").exists()


def test_the_year_moves_a_milestone_extends_a_deadline_and_endorses_a_version(ascn: Ascn) -> None:
    """The scenario attaches the Framework's versions before endorsing, fixes the AMM's dates once
    confirmed (a real-life move) and extends Yangon's action plan after it missed the SCGW."""
    _simulate(ascn)
    sim = ascn.folder / "sim" / "config.toml"

    def ask(*args: str) -> Any:
        result = CliRunner().invoke(
            cli, ["--config", str(sim), *args, "--json"], env={"ASCN_NOW": "2018-11-20T12:00+08:00"}
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    changes = ask("calendar", "history")
    assert [(c["kind"], c["target"]) for c in changes] == [
        ("extension", "2018/action-plan/yangon"),
        ("milestone", "amm"),
    ]
    assert changes[1]["new"]["start"] == "2018-07-30" and changes[1]["new"]["end"] == "2018-08-04"
    yangon = ask("history", "2018/action-plan/yangon")
    assert "extend" in [h["trigger"] for h in yangon]
    fw = ask("framework")
    assert [(e["body"], e["version_number"]) for e in fw["endorsements"]] == [
        ("ASCN", 2),
        ("JCM", 2),
        ("ASEAN Leaders", 2),
    ]
    assert len(fw["documents"]) == 2 and fw["unendorsed_versions"] == []
    assert ask("audit", "verify")["problems"] == []


def test_the_simulation_keeps_its_documents_beside_its_database(
    ascn: Ascn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another folder, with --db elsewhere: the document files go beside the database,
    and the simulation's config finds them there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    db = tmp_path / "moved" / "ascn.db"
    ran = CliRunner().invoke(
        cli, ["--config", str(ascn.config), "simulate", "--db", str(db), "--until", "2018-07-05", "--quiet"]
    )
    assert ran.exit_code == 0, ran.output
    listed = CliRunner().invoke(
        cli,
        ["--config", str(db.parent / "config.toml"), "document", "list", "2018/framework", "--json"],
        env={"ASCN_NOW": "2018-07-05T12:00+08:00"},
    )
    assert listed.exit_code == 0, listed.output
    versions = json.loads(listed.stdout)
    assert len(versions) == 2
    for v in versions:
        path = Path(v["path"])
        assert path.is_file() and path.is_relative_to(db.parent / "documents"), path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == v["sha256"]
    assert not (elsewhere / "documents").exists() and not (ascn.folder / "documents").exists()
