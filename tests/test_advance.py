"""One advance is one pipeline: read, fire (pure), apply, effects, plan reminders once, commit.

Its cost is counted in SQL statements, the unit that does not depend on the machine: an advance
into a stage with a deadline and three reminders runs at most 9, PRAGMAs and the schema check
having been done once when the connection opened.
"""

from __future__ import annotations

import json
from typing import Any

from ascn_workflow import services
from ascn_workflow.definitions import EFFECTS as NAMED
from ascn_workflow.effects import EFFECTS

from .conftest import ASEC, NR, Ascn, join, nomination, utc


def test_every_effect_the_definitions_may_name_has_code() -> None:
    assert set(EFFECTS) == set(NAMED)


def _traced(ascn: Ascn) -> tuple[Any, list[str]]:
    """An application whose store connection is open (PRAGMAs, schema check) and whose every
    later statement is recorded, as sqlite3 executes it."""
    app = ascn.app()
    with app.store.read():
        pass
    statements: list[str] = []
    connection, _dialect = app.store._connection()
    connection.set_trace_callback(statements.append)
    return app, statements


def test_an_advance_into_a_stage_with_a_deadline_and_three_reminders_runs_at_most_nine_statements(
    tmp_path: Any,
) -> None:
    from .conftest import PEOPLE, write_config

    ascn = Ascn(tmp_path, write_config(tmp_path))  # SQLite: sqlite3 traces what it executes
    ascn.ok("init")
    ascn.ok("people", "import", ascn.file("people.toml", PEOPLE), actor=ASEC)
    text = nomination("TH", ["Bangkok"], NR["TH"])
    ascn.ok("nominate", "TH", "--file", ascn.file("th.toml", text), actor=NR["TH"], now="2018-02-10T10:00+07:00")
    app, statements = _traced(ascn)

    view = services.advance(
        app, "2018/nomination/th", "return_for_correction", utc("2018-02-11T09:00+07:00"), ASEC, note="add titles"
    )
    advance = list(statements)

    assert view["stage"] == "awaiting" and view["deadline"] is not None
    with app.store.read() as tx:
        planned = tx.reminders("2018/nomination/th", view["version"])
    assert [r.offset_days for r in planned] == [14, 7, 1] and {r.recipient for r in planned} == {NR["TH"]}
    with app.store.read() as tx:
        chain = tx.history("2018/nomination/th")
    assert [h.seq for h in chain] == [1, 2] and chain[1].prev_hash == chain[
        0
    ].hash != ""  # the chain read with the UPDATE
    assert len(advance) <= 9, "\n".join(advance)
    assert advance[0].startswith("BEGIN") and advance[-1] == "COMMIT"  # one transaction, every read inside it
    assert not [s for s in advance if s.upper().startswith("PRAGMA") or "alembic_version" in s]
    assert not [s for s in advance if "IN ()" in s]


def _row(app: Any, deliverable_id: str) -> dict[str, Any]:
    """The deliverable as SQLAlchemy reads it, not through the store's own statements."""
    from .conftest import stored

    (found,) = [r._asdict() for r in stored(app, "deliverable") if r.id == deliverable_id]
    found["data"] = json.loads(found["data"]) if isinstance(found["data"], str) else found["data"]
    return found


def test_each_advance_stores_the_data_and_owed_notice_it_answers_with(ready: Ascn) -> None:
    """An advance leaves out of its UPDATE the data it keeps and an owed notice that stays empty
    (issue 15): what is stored is still what each transition makes, as another reader sees it."""
    join(ready, "TH", ["Bangkok"])
    app = ready.app()
    steps: list[tuple[str, str, dict[str, str]]] = [
        ("2018/twinning/bangkok", "match", {"partner": "Japan"}),  # data added
        ("2018/twinning/bangkok", "unmatch", {}),  # data cleared
        ("2018/twinning/bangkok", "match", {"partner": "Korea"}),
        ("2018/twinning/bangkok", "finalise", {}),  # data kept
    ]
    expected = [{"partner": "Japan"}, {}, {"partner": "Korea"}, {"partner": "Korea"}]
    for (did, trigger, data), wanted in zip(steps, expected, strict=True):
        before = _row(app, did)
        view = services.advance(app, did, trigger, utc("2018-06-01T09:00+07:00"), ASEC, data=data)
        after = _row(app, did)
        assert after["data"] == wanted and after["version"] == before["version"] + 1 == view["version"]
        assert after["stage"] == view["stage"] and after["notice_due"] is None

    nomination_id = "2018/nomination/vn"
    text = nomination("VN", ["Ha Noi"], NR["VN"])
    ready.ok("nominate", "VN", "--file", ready.file("vn.toml", text), actor=NR["VN"], now="2018-02-10T10:00+07:00")
    assert _row(app, nomination_id)["notice_due"] is None  # submitted: no deadline, no notice owed
    view = services.advance(
        app, nomination_id, "return_for_correction", utc("2018-02-11T09:00+07:00"), ASEC, note="add titles"
    )
    owed = _row(app, nomination_id)
    assert owed["stage"] == "awaiting" and view["deadline"] is not None
    assert owed["notice_due"] is not None and owed["notice_due"] == owed["deadline"]  # owed again
    services.advance(app, nomination_id, "submit", utc("2018-02-12T09:00+07:00"), NR["VN"])
    assert _row(app, nomination_id)["notice_due"] is None and _row(app, nomination_id)["deadline"] is None
    assert ready.json("audit", "verify")["problems"] == []


def test_data_equal_to_what_was_read_but_not_the_same_is_written(sqlite_ready: Ascn) -> None:
    """1 == True in Python, not in JSON: a transition that replaces a value by an equal one of
    another type stores the new one."""
    from ascn_workflow.engine import Event, Outcome

    app = sqlite_ready.app()
    with app.store.transaction() as tx:
        tx.execute("UPDATE deliverable SET data = ? WHERE id = ?", ('{"count": 1}', "2018/framework"))
    at = utc("2018-03-20T09:00+08:00")
    with app.store.transaction() as tx:
        row = tx.deliverable("2018/framework")
        event = Event("circulate", row.stage, "circulated", ASEC, "asec", at, at, None, {"count": True}, {})
        tx.apply(Outcome(row.id, row.version, event, None, {"count": True}, ()), read=row)
    assert _row(app, "2018/framework")["data"] == {"count": True}
    assert _row(app, "2018/framework")["data"]["count"] is True
