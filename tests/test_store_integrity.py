"""Migrations, the tamper-evident history and export/restore, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from ascn_workflow.store import migrate
from ascn_workflow.store.append_only import unprotect
from ascn_workflow.store.migrate import make_engine

from .conftest import ASEC, SHEPHERD, Ascn, join, write_config


def test_head_constant_is_the_newest_migration() -> None:
    assert migrate.script_head() == migrate.HEAD


def test_migrations_build_exactly_the_tables(ascn: Ascn, db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ascn_workflow.store.schema import metadata

    assert ascn.json("db", "current")["current"] is None
    ascn.ok("init")
    assert ascn.json("db", "current") == {"current": migrate.HEAD, "head": migrate.HEAD, "up_to_date": True}
    engine = make_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_upgrade_from_0001_hashes_the_rows_already_stored(ascn: Ascn, db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(db_url, "0001")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO deliverable (id, cycle, workflow, stage, version, data, opened_at) "
                "VALUES ('2018/scgw', 2018, 'scgw', 'concluded', 3, '{}', '2018-01-01 00:00:00+00:00')"
            )
        )
        for seq, (trigger, source, dest) in enumerate(
            [("convene", "planned", "convened"), ("conclude", "convened", "concluded")], start=1
        ):
            c.execute(
                text(
                    "INSERT INTO history (deliverable_id, seq, trigger, source, dest, actor, role, effective_at, "
                    "recorded_at, data, waivers) VALUES ('2018/scgw', :seq, :t, :s, :d, 'x@y.example', 'shepherd', "
                    ":at, :at, '{}', '{}')"
                ),
                {"seq": seq, "t": trigger, "s": source, "d": dest, "at": f"2018-05-2{seq + 1} 01:00:00+00:00"},
            )
    stale = ascn.run("status")
    assert stale.exit_code == 2 and "ascn db upgrade" in stale.stderr
    ascn.ok("db", "upgrade")  # 0002 rewrites the stored rows: the triggers are lifted while migrations run
    ascn.ok("init")
    result = ascn.json("audit", "verify")
    assert result["problems"] == [] and result["rows"] == 2
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="history is append-only"), engine.begin() as c:
        c.execute(text("DELETE FROM history"))


def _walked(a: Ascn) -> Ascn:
    a.ok("advance", "2018/scgw", "convene", actor=SHEPHERD, now="2018-05-22T09:00+08:00")
    a.ok("advance", "2018/scgw", "conclude", actor=SHEPHERD, now="2018-05-25T17:00+08:00")
    a.ok("advance", "2018/framework", "circulate", actor=SHEPHERD, now="2018-03-20T09:00+08:00")
    a.ok("advance", "2018/framework", "revise", actor=SHEPHERD, now="2018-05-25T18:00+08:00")
    a.ok("advance", "2018/annual-meeting", "convene", actor=ASEC, now="2018-07-08T09:00+08:00")
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework draft\n"), actor=ASEC)
    a.ok("advance", "2018/framework", "endorse", actor=ASEC, now="2018-07-08T10:00+08:00")
    return a


def _sql(a: Ascn, statement: str) -> None:
    """Tampering as someone with the database owner's rights would: first remove the append-only triggers."""
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)
        c.execute(text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE history SET note = 'backdated' WHERE deliverable_id = '2018/framework' AND seq = 2",
        "DELETE FROM history WHERE deliverable_id = '2018/framework' AND seq = 3",
    ],
)
def test_history_refuses_update_and_delete_in_the_database(ready: Ascn, statement: str) -> None:
    from sqlalchemy.exc import DBAPIError

    _walked(ready)
    before = ready.json("history", "2018/framework")
    engine = make_engine(ready.app().config.database_url)
    with pytest.raises(DBAPIError, match="history is append-only"), engine.begin() as c:
        c.execute(text(statement))
    engine.dispose()
    assert ready.json("history", "2018/framework") == before
    assert ready.json("audit", "verify")["problems"] == []


def _problems(a: Ascn) -> list[dict]:
    result = a.run("audit", "verify", "--json")
    assert result.exit_code == 7, result.output
    return json.loads(result.stdout)["problems"]


def test_a_clean_history_verifies(ready: Ascn) -> None:
    _walked(ready)
    assert ready.json("audit", "verify")["problems"] == []
    assert "all chains intact" in ready.ok("audit", "verify").output


@pytest.mark.parametrize(
    ("tamper", "kind", "position"),
    [
        ("UPDATE history SET note = 'backdated' WHERE deliverable_id = '2018/framework' AND seq = 2", "edited", 2),
        (
            "UPDATE history SET actor = 'someone@else.example' WHERE deliverable_id = '2018/framework' AND seq = 1",
            "edited",
            1,
        ),
        ("DELETE FROM history WHERE deliverable_id = '2018/framework' AND seq = 2", "deleted", 2),
        ("DELETE FROM history WHERE deliverable_id = '2018/framework' AND seq = 3", "deleted", 3),
        (
            "INSERT INTO history (deliverable_id, seq, trigger, source, dest, actor, role, effective_at, recorded_at, "
            "data, waivers, prev_hash, hash) SELECT deliverable_id, 4, 'adopt', 'endorsed_by_ascn', 'adopted', actor, "
            "role, effective_at, recorded_at, data, waivers, hash, 'forged' FROM history "
            "WHERE deliverable_id = '2018/framework' AND seq = 3",
            "inserted",
            4,
        ),
    ],
)
def test_tampering_is_caught(ready: Ascn, tamper: str, kind: str, position: int) -> None:
    _walked(ready)
    _sql(ready, tamper)
    problems = _problems(ready)
    assert {p["deliverable_id"] for p in problems} == {"2018/framework"}
    assert any(p["kind"] == kind and p["position"] == position for p in problems), problems


def test_reordering_is_caught(ready: Ascn) -> None:
    _walked(ready)
    for statement in (
        "UPDATE history SET seq = 99 WHERE deliverable_id = '2018/framework' AND seq = 2",
        "UPDATE history SET seq = 2 WHERE deliverable_id = '2018/framework' AND seq = 3",
        "UPDATE history SET seq = 3 WHERE deliverable_id = '2018/framework' AND seq = 99",
    ):
        _sql(ready, statement)
    problems = _problems(ready)
    assert any(p["kind"] == "reordered" and p["position"] == 2 for p in problems), problems
    human = ready.run("audit", "verify")
    assert human.exit_code == 7 and "2018/framework #2: reordered" in human.stderr


def test_export_and_import_round_trip(ready: Ascn, tmp_path: Path) -> None:
    a = _walked(ready)
    join(a, "TH", ["Bangkok", "Phuket"])
    a.ok("tick", now="2018-03-01T12:00+08:00")
    dump = tmp_path / "export.json"
    a.ok("export", str(dump))
    target = tmp_path / "restored"
    target.mkdir()
    restored = Ascn(target, write_config(target))  # restored into the embedded backend, whatever the source
    assert restored.ok("import", str(dump)).exit_code == 0
    shutil.copytree(a.app().config.documents_dir, target / "documents")  # the files travel beside the export
    assert restored.json("audit", "verify")["problems"] == []
    now = "2018-03-02T12:00+08:00"
    assert restored.json("status", now=now) == a.json("status", now=now)
    assert restored.json("history", "2018/nomination/th") == a.json("history", "2018/nomination/th")
    assert restored.json("people", "list") == a.json("people", "list")
    assert len(restored.json("outbox", "list")) == len(a.json("outbox", "list")) > 0
    again = restored.run("import", str(dump))
    assert again.exit_code == 2 and "empty database" in again.stderr
    assert restored.run("import", str(tmp_path / "missing.json")).exit_code == 3
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert restored.run("import", str(bad)).exit_code == 2
