"""One advance is one pipeline: read, fire (pure), apply, effects, plan reminders once, commit.

Its cost is counted in SQL statements, the unit that does not depend on the machine: an advance
into a stage with a deadline and three reminders runs at most 9, PRAGMAs and the schema check
having been done once when the connection opened.
"""

from __future__ import annotations

from typing import Any

from ascn_workflow import services
from ascn_workflow.definitions import EFFECTS as NAMED
from ascn_workflow.effects import EFFECTS

from .conftest import ASEC, NR, Ascn, nomination, utc


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
