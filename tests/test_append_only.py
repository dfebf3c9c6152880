"""The hash chains are append-only in the database itself (migrations 0008, 0010): an UPDATE or
DELETE of a calendar change, a directory change or a document row is refused as one of history
is, on SQLite and PostgreSQL, and a database made before 0008 gets the triggers from `ascn db upgrade`."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ascn_workflow.store import migrate
from ascn_workflow.store.migrate import make_engine

from .conftest import ASEC, NR, PEOPLE, Ascn

ATTEMPTS = [
    ("calendar_change", "UPDATE calendar_change SET reason = 'no reason' WHERE seq = 1"),
    ("calendar_change", "DELETE FROM calendar_change WHERE seq = 1"),
    ("directory_change", "UPDATE directory_change SET actor = 'forged@x.example' WHERE seq = 1"),
    ("directory_change", "DELETE FROM directory_change WHERE seq = 2"),
    ("history", "DELETE FROM history WHERE seq = 1"),
    ("document", "UPDATE document SET title = 'Forged'"),
    ("document", "DELETE FROM document"),
]


CHAINS = [
    ("calendar", "history"),
    ("people", "list"),
    ("history", "2018/framework"),
    ("document", "list", "2018/framework"),
]


def _moved(a: Ascn) -> Ascn:
    a.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=ASEC, now="2018-05-14T10:00+08:00")
    a.ok("advance", "2018/framework", "circulate", actor=ASEC, now="2018-05-14T11:00+08:00")
    a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework draft\n"), actor=ASEC)
    return a


def _refused(a: Ascn, table: str, statement: str) -> None:
    engine = make_engine(a.app().config.database_url)
    try:
        with pytest.raises(DBAPIError, match=f"{table} is append-only"), engine.begin() as c:
            c.execute(text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("table", "statement"), ATTEMPTS)
def test_the_chains_refuse_update_and_delete_in_the_database(ready: Ascn, table: str, statement: str) -> None:
    a = _moved(ready)

    def state() -> tuple[Any, ...]:
        return tuple(a.json(*args) for args in CHAINS)

    before = state()
    _refused(a, table, statement)
    assert state() == before
    assert a.json("audit", "verify")["problems"] == []


# The triggers as the code before 0008 installed them: on the history only (store/append_only.py then).
OLD_SQLITE = [
    "CREATE TRIGGER history_no_update BEFORE UPDATE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END",
    "CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'history is append-only'); END",
]
OLD_PG = [
    "CREATE OR REPLACE FUNCTION ascn_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'history is append-only' USING ERRCODE = '42501'; END $$",
    "CREATE TRIGGER history_no_change BEFORE UPDATE OR DELETE ON history "
    "FOR EACH ROW EXECUTE FUNCTION ascn_history_append_only()",
    "CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history "
    "FOR EACH STATEMENT EXECUTE FUNCTION ascn_history_append_only()",
]


def test_db_upgrade_from_0007_makes_the_chains_append_only(ascn: Ascn, db_url: str) -> None:
    from ascn_workflow.store.append_only import unprotect

    migrate.upgrade(db_url, "0007")
    engine = make_engine(db_url)
    with engine.begin() as c:  # the database as 0007 left it: only history protected
        unprotect(c)
        for statement in OLD_PG if c.dialect.name == "postgresql" else OLD_SQLITE:
            c.execute(text(statement))
    engine.dispose()
    stale = ascn.run("status")
    assert stale.exit_code == 2 and "ascn db upgrade" in stale.stderr

    ascn.ok("db", "upgrade")
    assert ascn.json("db", "current")["current"] == migrate.HEAD
    ascn.ok("init")
    ascn.ok("people", "import", ascn.file("people.toml", PEOPLE))
    _moved(ascn)
    for table, statement in ATTEMPTS:
        _refused(ascn, table, statement)
    assert ascn.json("audit", "verify")["problems"] == []
    assert {p["email"] for p in ascn.json("people", "list")} >= {ASEC, NR["TH"]}
    engine = make_engine(db_url)
    with engine.connect() as c:
        if c.dialect.name == "postgresql":  # 0006's history-only function is gone, replaced
            names = {r[0] for r in c.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'ascn_%'"))}
            assert names == {"ascn_append_only"}
    engine.dispose()
