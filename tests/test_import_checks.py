"""Issue 16 item 3: `ascn import` validates its file as the commands would, or restores nothing.

An export edited by hand — a person called `scheduler`, a broken hash, an unknown workflow, a
version that is not a number, a lapse recorded for someone other than the scheduler, a directory
change removed — is refused with exit 2 naming the first problem, and the database stays empty.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ASEC, Ascn, join, write_config


@pytest.fixture
def exported(ready: Ascn, tmp_path: Path) -> dict[str, Any]:
    join(ready, "TH", ["Bangkok", "Phuket"])
    ready.ok(
        "advance", "2018/framework", "circulate", "--data", "venue=Singapore", actor=ASEC, now="2018-03-20T10:00+08:00"
    )
    ready.ok("tick", now="2018-03-01T12:00+08:00")  # nine nominations lapse: history by the scheduler
    dump = tmp_path / "export.json"
    ready.ok("export", str(dump))
    document: dict[str, Any] = json.loads(dump.read_text(encoding="utf-8"))
    return document


def _first(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(r for r in rows if all(r.get(k) == v for k, v in match.items()))


def _scheduler_person(d: dict[str, Any]) -> None:
    d["people"].append({"email": "scheduler", "name": "Scheduler"})
    d["roles"].append({"email": "scheduler", "role": "scheduler", "member_state": "", "city": "", "id": 999})


def _lapse_by_a_person(d: dict[str, Any]) -> None:
    row = _first(d["history"], trigger="lapse")
    row["actor"], row["role"] = ASEC, "asec"


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a person called scheduler": (_scheduler_person, "scheduler"),
    "a broken history hash": (
        lambda d: _first(d["history"], trigger="circulate").update(note="edited"),
        "history of 2018/framework",
    ),
    "an unknown workflow": (lambda d: d["deliverables"][0].update(workflow="parade"), "unknown workflow"),
    "a version that is not a number": (
        lambda d: _first(d["deliverables"], id="2018/framework").update(version="2"),
        "version",
    ),
    "a lapse recorded for a person": (_lapse_by_a_person, "allowed to lapse"),
    "a directory change removed": (lambda d: d["directory"].pop(), "directory"),
    "an address that cannot be mailed": (lambda d: d["people"][0].update(email="nö@x.example"), "SMTPUTF8"),
    "a stage set by hand": (
        lambda d: _first(d["deliverables"], id="2018/framework").update(stage="adopted"),
        "history ends at circulated",
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_export_is_refused_and_nothing_restored(exported: dict[str, Any], tmp_path: Path, edit: str) -> None:
    change, needle = EDITS[edit]
    change(exported)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    target = tmp_path / "restored"
    target.mkdir()
    restored = Ascn(target, write_config(target))
    result = restored.run("import", str(path))
    assert result.exit_code == 2, (edit, result.output)
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert restored.run("status").exit_code == 3  # still no database: nothing was restored


def test_an_unedited_export_still_imports(exported: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "same.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    target = tmp_path / "restored"
    target.mkdir()
    restored = Ascn(target, write_config(target))
    restored.ok("import", str(path))
    assert restored.json("audit", "verify")["problems"] == []


def test_the_whole_simulated_year_exports_and_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round trip of a real year: the shepherd submitting Malaysia's nomination with a waiver
    (the engine lets the Chair or the shepherd act for the owner when waiving) must import too."""
    from click.testing import CliRunner

    from ascn_workflow.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"ASCN_NOW": None, "ASCN_CONFIG": None, "ASCN_ACTOR": None}
    assert runner.invoke(cli, ["simulate", "--quiet"], env=env).exit_code == 0
    exported = runner.invoke(cli, ["--config", "simulation/config.toml", "export", "year.json"], env=env)
    assert exported.exit_code == 0, exported.output
    (tmp_path / "other").mkdir()
    other = write_config(tmp_path / "other")
    imported = runner.invoke(cli, ["--config", str(other), "import", "year.json"], env=env)
    assert imported.exit_code == 0, imported.output
    # The document files travel beside the export (audit verify checks each row against its file).
    shutil.copytree(tmp_path / "simulation" / "documents", tmp_path / "other" / "documents")
    verified = runner.invoke(cli, ["--config", str(other), "audit", "verify", "--json"], env=env)
    assert verified.exit_code == 0 and json.loads(verified.output)["problems"] == []
    before = runner.invoke(
        cli, ["--config", "simulation/config.toml", "history", "2018/nomination/my", "--json"], env=env
    )
    after = runner.invoke(cli, ["--config", str(other), "history", "2018/nomination/my", "--json"], env=env)
    assert json.loads(after.output) == json.loads(before.output)
