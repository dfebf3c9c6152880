"""Every `--json` output against the JSON Schema shipped for it (ascn_workflow/schemas/), and the
export in the same vocabulary, with an import that still reads the exports of earlier versions."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from ascn_workflow.cli import cli

from .conftest import Ascn, write_config

NOW = "2018-11-20T12:00+08:00"
ASEC = "imd.officer@asec.example.org"  # the simulation's ASEC officer


def schema(name: str) -> dict[str, Any]:
    text = resources.files("ascn_workflow").joinpath("schemas", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def check(name: str, document: Any) -> None:
    validator = jsonschema.Draft202012Validator(schema(name), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Ascn:
    """The 2018 scenario played, then 2019 opened with a project: every output has rows to check."""
    folder = tmp_path_factory.mktemp("schemas-year")
    config = write_config(folder)
    db = folder / "sim" / "ascn.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "simulate", "--db", str(db), "--quiet"])
    assert result.exit_code == 0, result.output
    a = Ascn(folder, db.parent / "config.toml")
    a.ok("cycle", "open", "2019", now="2019-01-10T09:00+07:00")
    return a


OUTPUTS = [
    ("status", ["status", "--cycle", "all"]),
    ("show", ["show", "2018/nomination/my"]),
    ("history", ["history", "2018/nomination/mm"]),
    ("framework", ["framework"]),
    ("people", ["people", "list"]),
    ("outbox", ["outbox", "list"]),
    ("cycles", ["cycle", "list"]),
    ("calendar", ["calendar"]),
    ("report", ["report", "annual", "2018"]),
    ("tick", ["tick"]),
    ("audit", ["audit", "verify"]),
    ("db-current", ["db", "current"]),
    ("workflows-check", ["workflows", "check"]),
    ("init", ["init"]),
]


@pytest.mark.parametrize(("name", "args"), OUTPUTS, ids=[n for n, _ in OUTPUTS])
def test_every_json_output_matches_its_schema(year: Ascn, name: str, args: list[str]) -> None:
    document = year.json(*args, actor=ASEC if name == "show" else None, now=NOW)
    if isinstance(document, list):
        assert document, f"{name}: nothing to check"
    check(name, document)


def test_acting_outputs_and_errors_match_their_schemas(year: Ascn) -> None:
    added = year.json(
        "project",
        "add",
        "da-nang",
        "--title",
        "Smart lights",
        "--cycle",
        "2019",
        actor=ASEC,
        now="2019-02-01T09:00+07:00",
    )
    check("project-added", added)
    moved = year.json(
        "advance", added["id"], "match", "--data", "provider=Acme", actor=ASEC, now="2019-02-02T09:00+07:00"
    )
    check("advance", moved)
    check("projects", year.json("project", "list", "--cycle", "2019", now="2019-02-02T10:00+07:00"))
    refused = year.run("advance", "2018/framework", "circulate", "--json", actor=ASEC, now=NOW)
    assert refused.exit_code == 4
    check("error", json.loads(refused.stderr))


def test_calendar_changes_and_documents_match_their_schemas(year: Ascn) -> None:
    """The outputs of SPEC section 9: calendar set (dry run and real), extend, calendar history, documents."""
    later = "2018-11-21T09:00+08:00"
    check("calendar-change", year.json("calendar", "set", "summit", "2018-11-14", "--reason", "moved a day", "--dry-run",
                                       actor=ASEC, now=later))  # fmt: skip
    check("calendar-change", year.json("calendar", "set", "summit", "2018-11-14", "--reason", "moved a day",
                                       actor=ASEC, now=later))  # fmt: skip
    due = next(r["id"] for r in year.json("status", "--cycle", "2019", now=later) if r["deadline"])
    check("extension", year.json("extend", due, "--to", "2019-12-15", "--reason", "late", actor=ASEC, now=later))
    history = year.json("calendar", "history", now=later)
    assert {h["kind"] for h in history} == {"milestone", "extension"}
    check("calendar-history", history)
    documents = year.json("document", "list", "2018/framework", now=later)
    assert documents
    check("documents", documents)


def test_one_vocabulary_across_outputs(year: Ascn) -> None:
    """The same thing has the same name in every output, the export included."""
    event = year.json("history", "2018/nomination/mm", now=NOW)[0]
    assert {"deliverable_id", "from_stage", "to_stage", "effective_at"} <= set(event)
    message = year.json("outbox", "list", now=NOW)[0]
    assert {"deliverable_id", "recipients"} <= set(message)
    people = year.json("people", "list", now=NOW)
    assert any(p["member_state"] is None for p in people) and all(p["member_state"] != "" for p in people)
    export = year.folder / "export.json"
    year.ok("export", str(export), now=NOW)
    document = json.loads(export.read_text(encoding="utf-8"))
    assert document["version"] == 2
    assert {"deliverable_id", "from_stage", "to_stage", "effective_at"} <= set(document["history"][0])
    assert "cycle" in document["cycles"][0] and "year" not in document["cycles"][0]
    assert all(r["member_state"] != "" and r["city"] != "" for r in document["roles"])
    check("export", document)


def to_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """What ascn wrote before one vocabulary (export version 1): the stored column names."""
    old = json.loads(json.dumps(document))
    old["version"] = 1
    for event in old["history"]:
        event["source"], event["dest"] = event.pop("from_stage"), event.pop("to_stage")
    for cycle in old["cycles"]:
        cycle["year"] = cycle.pop("cycle")
    for role in old["roles"]:
        role["member_state"], role["city"] = role["member_state"] or "", role["city"] or ""
    return old


def test_import_still_reads_an_export_of_the_earlier_format(tmp_path: Path) -> None:
    from .conftest import NR, PEOPLE, nomination

    (tmp_path / "a").mkdir()
    source = Ascn(tmp_path / "a", write_config(tmp_path / "a"))
    source.ok("init")
    source.ok("people", "import", source.file("people.toml", PEOPLE))
    source.ok("nominate", "TH", "--file", source.file("th.toml", nomination("TH", ["Bangkok"], NR["TH"])),
              actor=NR["TH"], now="2018-02-20T10:00+07:00")  # fmt: skip
    source.ok("tick", now="2018-03-01T12:00+08:00")  # lapses, notices: history by the scheduler too
    export = tmp_path / "export.json"
    source.ok("export", str(export), now=NOW)
    current = json.loads(export.read_text(encoding="utf-8"))
    old = to_version_1(current)
    assert old["version"] == 1 and "source" in old["history"][0] and "year" in old["cycles"][0]
    assert any(r["member_state"] == "" for r in old["roles"])
    old_file = tmp_path / "old.json"
    old_file.write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "b").mkdir()
    fresh = Ascn(tmp_path / "b", write_config(tmp_path / "b"))
    fresh.ok("import", str(old_file), now=NOW)
    assert fresh.json("history", "2018/nomination/vn", now=NOW) == source.json("history", "2018/nomination/vn", now=NOW)
    assert fresh.json("people", "list", now=NOW) == source.json("people", "list", now=NOW)
    again = tmp_path / "again.json"
    fresh.ok("export", str(again), now=NOW)
    assert json.loads(again.read_text(encoding="utf-8")) == current
