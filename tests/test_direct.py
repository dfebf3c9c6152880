"""The DB-API hot path (store/direct.py) and the ORM agree on every stored value, on both backends.

`show`, `status` and `advance` read and write through plain DB-API statements; everything else goes
through sqlmodel. Each writes what the other reads, so a drifting encoding (an instant's text form
in SQLite, JSON in PostgreSQL) would show here first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from ascn_workflow import views
from ascn_workflow.config import load_config
from ascn_workflow.engine import stage_deadline
from ascn_workflow.errors import NotFound
from ascn_workflow.maintenance import audit_verify
from ascn_workflow.store.direct import Db
from ascn_workflow.store.tables import DeliverableRow, HistoryRow

from .conftest import ASEC, NR, SHEPHERD, Ascn, nomination, write_config


def test_what_the_orm_wrote_reads_the_same_through_db_api(ready: Ascn) -> None:
    app = ready.app()
    with app.store.session() as session:
        orm = {r.id: r for r in session.exec(select(DeliverableRow))}
    with app.reader() as db:
        direct = {r.id: r for r in db.deliverables()}
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
    with app.store.session() as session:
        row = session.get(DeliverableRow, "2018/nomination/th")
        events = session.exec(select(HistoryRow).where(HistoryRow.deliverable_id == "2018/nomination/th")).all()
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
    assert [e["to"] for e in shown] == ["submitted", "awaiting"]
    assert shown[0]["at"] == "2018-02-10T10:15:30+07:00"  # in Thailand's zone


def test_overdue_filter_compares_instants_not_text(ready: Ascn) -> None:
    app = ready.app()
    now = datetime(2018, 3, 31, 16, 0, tzinfo=UTC)  # just after the framework's deadline, 23:59:59 SGT
    overdue = {r["id"] for r in views.status(app, now, overdue=True)}
    every = views.status(app, now)
    assert "2018/framework" in overdue
    assert overdue == {r["id"] for r in every if r["overdue"]}


def test_reading_a_missing_sqlite_database_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ascn.db"
    with pytest.raises(NotFound, match="run `ascn init` first"):
        Db.connect(f"sqlite:///{missing}")
    assert not missing.exists() and not missing.parent.exists()


def test_advance_conflict_through_db_api_loses_nothing(ready: Ascn) -> None:
    """Two advances read the same version; the second's conditional UPDATE finds no row: Conflict."""
    from ascn_workflow.engine import Request, fire
    from ascn_workflow.errors import Conflict

    app = ready.app()
    defs = app.definitions
    now = datetime(2018, 3, 10, 2, 0, tzinfo=UTC)
    with app.reader() as db:
        snap = db.deliverable("2018/framework").snapshot()
        actor = db.actor(SHEPHERD)
    assert actor is not None
    outcome = fire(defs, snap, Request("circulate", actor, now), lambda _id: None)
    with app.store.unit() as unit:
        unit.db.apply(outcome)
    with pytest.raises(Conflict), app.store.unit() as unit:
        unit.db.apply(outcome)
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
