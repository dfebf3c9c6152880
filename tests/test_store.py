"""The store port, one suite on both backends (the `db_url` fixture runs each test on SQLite and PostgreSQL).

The store's DB-API statements (store/sql.py) and SQLAlchemy's own column types (store/schema.py,
which Alembic checks against the migrations) agree on every column of every table: each writes
what the other reads, so a drifting encoding (an instant's text form in SQLite, JSON in
PostgreSQL, a boolean) or a column missing from one side would show here first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ascn_workflow import views
from ascn_workflow.config import load_config
from ascn_workflow.engine import stage_deadline
from ascn_workflow.errors import NotFound
from ascn_workflow.maintenance import audit_verify
from ascn_workflow.store import Store
from ascn_workflow.store.tables import TABLES as ORDER
from ascn_workflow.store.tables import Column, Table

from .conftest import ASEC, NR, SHEPHERD, Ascn, nomination, stored, write_config

DECLARED = {table.name: table for _, table in ORDER}


def test_what_the_orm_wrote_reads_the_same_through_db_api(ready: Ascn) -> None:
    app = ready.app()
    orm = {r.id: r for r in stored(app, "deliverable")}
    with app.store.read() as tx:
        direct = {r.id: r for r in tx.deliverables()}
    assert set(direct) == set(orm) and len(orm) > 10
    for did, row in orm.items():
        got = direct[did]
        for name in ("cycle", "workflow", "member_state", "city", "stage", "deadline", "version", "data"):
            assert getattr(got, name) == getattr(row, name), (did, name)
        assert got.opened_at == row.opened_at and got.opened_at.tzinfo is UTC
        assert got.deadline is None or got.deadline.tzinfo is UTC


def test_what_db_api_wrote_reads_the_same_through_the_orm_and_the_chain_verifies(ready: Ascn) -> None:
    text = nomination("TH", ["Bangkok", "Chonburi", "Phuket"], NR["TH"])
    submitted = "2018-02-10T10:15:30.123456+07:00"
    ready.ok("nominate", "TH", "--file", ready.file("th.toml", text), actor=NR["TH"], now=submitted)
    ready.ok(
        "advance",
        "2018/nomination/th",
        "return_for_correction",
        "--note",
        "ünïcode: add the CSCOs' titles",
        actor=ASEC,
        now="2018-02-12T09:00+07:00",
    )  # back to a stage with a deadline
    app = ready.app()
    row = next(r for r in stored(app, "deliverable") if r.id == "2018/nomination/th")
    events = [h for h in stored(app, "history") if h.deliverable_id == "2018/nomination/th"]
    assert row is not None and row.stage == "awaiting" and row.version == 3
    workflow = app.definitions.workflow("nomination")
    assert row.deadline == stage_deadline(app.definitions, 2018, workflow, "awaiting") and row.deadline is not None
    assert row.notice_due == row.deadline  # owed an overdue notice again if it is missed
    assert row.last_event_at == datetime(2018, 2, 12, 2, 0, tzinfo=UTC)
    assert row.data["cities"][0]["slug"] == "bangkok"  # the nomination, as JSON, kept across both writes
    first, second = sorted(events, key=lambda e: e.seq)
    assert first.effective_at == datetime(2018, 2, 10, 3, 15, 30, 123456, tzinfo=UTC)
    assert second.note == "ünïcode: add the CSCOs' titles" and second.waivers == {}
    assert audit_verify(app)["problems"] == []
    shown = views.history(app, "2018/nomination/th")
    assert [e["to_stage"] for e in shown] == ["submitted", "awaiting"]
    assert shown[0]["effective_at"] == "2018-02-10T10:15:30+07:00"  # in Thailand's zone


def test_overdue_filter_compares_instants_not_text(ready: Ascn) -> None:
    app = ready.app()
    now = datetime(2018, 3, 31, 16, 0, tzinfo=UTC)  # just after the framework's deadline, 23:59:59 SGT
    overdue = {r["id"] for r in views.status(app, now, overdue=True)}
    every = views.status(app, now)
    assert "2018/framework" in overdue
    assert overdue == {r["id"] for r in every if r["overdue"]}


def test_reading_a_missing_sqlite_database_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ascn.db"
    with pytest.raises(NotFound, match="run `ascn init` first"), Store(f"sqlite:///{missing}").read():
        pass
    assert not missing.exists() and not missing.parent.exists()


def test_an_sqlite_library_too_old_for_the_statements_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An advance's UPDATE returns the chain's last hash (RETURNING, SQLite 3.35): an older library
    is named when the database opens, never a syntax error in the middle of an advance."""
    from ascn_workflow.store import sql

    ascn = Ascn(tmp_path, write_config(tmp_path))
    ascn.ok("init")
    monkeypatch.setattr(sql, "SQLITE_NEEDED", (99, 0, 0))
    result = ascn.run("show", "2018/framework")
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "is too old: ascn needs 99.0.0 or newer" in result.stderr


def test_advance_conflict_through_db_api_loses_nothing(ready: Ascn) -> None:
    """Two advances read the same version; the second's conditional UPDATE finds no row: Conflict."""
    from ascn_workflow.engine import Request, fire
    from ascn_workflow.errors import Conflict

    app = ready.app()
    defs = app.definitions
    now = datetime(2018, 3, 10, 2, 0, tzinfo=UTC)
    with app.store.read() as tx:
        snap = tx.deliverable("2018/framework")
        actor = tx.actor(SHEPHERD)
    assert actor is not None
    outcome = fire(defs, snap, Request("circulate", actor, now), lambda _id: None)
    with app.store.transaction() as tx:
        tx.apply(outcome)
    with pytest.raises(Conflict), app.store.transaction() as tx:
        tx.apply(outcome)
    view = views.show_deliverable(app, "2018/framework", now)
    assert view["version"] == 2 and [e["seq"] for e in view["history"]] == [1]


def test_a_database_url_ascn_cannot_use_is_refused_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "mysql://ascn@db.example/ascn")
    result = Ascn(tmp_path, config).run("status")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "url must be sqlite:///PATH or postgresql+psycopg://" in result.stderr
    plain = load_config(write_config(tmp_path, "postgresql://ascn@db.example/ascn"), explicit=True)
    assert plain.database_url == "postgresql+psycopg://ascn@db.example/ascn"  # psycopg 3 is the driver installed


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+psycopg://ascn@127.0.0.1:1/ascn")  # nothing listens on port 1
    for command in (["show", "2018/framework"], ["advance", "2018/framework", "circulate"]):
        result = Ascn(tmp_path, config).run(*command, actor=ASEC)
        assert result.exit_code == 1, command
        assert result.stderr.startswith("ascn: cannot connect to the database: "), result.stderr
        assert result.stderr.strip().count("\n") == 0


# ---------------------------------------------------------------------------- every column, both ways

INSTANT = datetime(2018, 2, 10, 3, 15, 30, 123456, tzinfo=UTC)


def _value(table: Table[Any], column: Column, n: int) -> Any:
    """Row `n`'s value of a column: differs per row and per column, NULL for nullable ones on row 1,
    and a reference names the referenced row `n` (the foreign keys hold)."""
    references = dict(table.references)
    if column.name in references:
        name, target = references[column.name].split(".")
        other = DECLARED[name]
        return _value(other, next(c for c in other.columns if c.name == target), n)
    if column.nullable and n == 1:
        return None
    if column.kind == "text":
        return f"X{n}"[: column.length] if column.length else f"{table.name}.{column.name}-{n}-ünï"
    return {
        "integer": 10 * n + len(column.name),
        "boolean": n == 0,
        "instant": INSTANT + timedelta(days=n, minutes=len(column.name)),
        "json": {"n": n, "column": column.name, "list": [1, "two", None]},
    }[column.kind]


def _samples(table: Table[Any]) -> list[dict[str, Any]]:
    return [{c.name: _value(table, c, n) for c in table.written} for n in range(2)]


def _in_order(table: Table[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r[table.written[0].name]))


def _assert_same(table: Table[Any], got: list[dict[str, Any]]) -> None:
    assert len(got) == 2, table.name
    for row, sample in zip(_in_order(table, got), _in_order(table, _samples(table)), strict=True):
        for column in table.written:
            assert row[column.name] == sample[column.name], (table.name, column.name)
            if column.kind == "instant" and row[column.name] is not None:
                assert row[column.name].utcoffset() == timedelta(0), (table.name, column.name)


def test_every_column_written_by_sqlalchemy_reads_the_same_through_the_store(db_url: str) -> None:
    from ascn_workflow.store.migrate import make_engine, upgrade
    from ascn_workflow.store.schema import TABLES

    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as c:
        for table in DECLARED.values():
            c.execute(TABLES[table.name].insert(), _samples(table))
    engine.dispose()
    store = Store(db_url)
    with store.read() as tx:
        dumped = tx.dump()
    store.close()
    for key, table in ORDER:
        _assert_same(table, dumped[key])


def test_every_column_written_by_the_store_reads_the_same_through_sqlalchemy(db_url: str) -> None:
    from sqlalchemy import select

    from ascn_workflow.store.migrate import make_engine, upgrade
    from ascn_workflow.store.schema import TABLES

    upgrade(db_url)
    document = {
        key: [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()} for row in _samples(t)]
        for key, t in ORDER
    }  # as an export file holds them
    store = Store(db_url)
    with store.transaction() as tx:
        assert tx.restore(document) == {key: 2 for key, _ in ORDER}
    store.close()
    engine = make_engine(db_url)
    with engine.connect() as c:
        for table in DECLARED.values():
            _assert_same(table, [dict(r._mapping) for r in c.execute(select(TABLES[table.name]))])
    engine.dispose()


def test_the_declarations_are_the_migrated_schema(db_url: str) -> None:
    """Alembic finds no difference between the migrations and the metadata derived from the declarations."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ascn_workflow.store.migrate import make_engine, upgrade
    from ascn_workflow.store.schema import metadata

    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    engine.dispose()


def test_a_savepoint_undoes_its_part_and_keeps_the_rest(ready: Ascn) -> None:
    """How a due pass batches claims: a group lost to another pass is undone alone."""
    app = ready.app()
    with app.store.transaction() as tx:
        tx.execute("UPDATE deliverable SET stage = 'kept' WHERE id = '2018/framework'")
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.execute("UPDATE deliverable SET stage = 'undone' WHERE id = '2018/scgw'")
            raise RuntimeError("lost")
        with tx.savepoint():
            tx.execute("UPDATE deliverable SET version = 7 WHERE id = '2018/scgw'")
    with app.store.read() as tx:
        assert tx.stage("2018/framework") == "kept"
        assert tx.stage("2018/scgw") == "planned" and tx.deliverable("2018/scgw").version == 7
