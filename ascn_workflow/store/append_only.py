"""History is append-only in the database itself: triggers refuse UPDATE, DELETE (and TRUNCATE).

Migrations are the one exception: the migration environment drops the triggers before it runs
and puts them back afterwards (`migrations/env.py`), so a migration may rewrite history rows
(0002 hashed the rows already stored). Anything done around them is still caught by `ascn audit verify`.
"""

from __future__ import annotations

from typing import Any

MESSAGE = "history is append-only"

_SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS history_no_update", "DROP TRIGGER IF EXISTS history_no_delete"]

_PG_CREATE = [
    "CREATE OR REPLACE FUNCTION ascn_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = '42501'; END $$",
    "DROP TRIGGER IF EXISTS history_no_change ON history",
    "CREATE TRIGGER history_no_change BEFORE UPDATE OR DELETE ON history "
    "FOR EACH ROW EXECUTE FUNCTION ascn_history_append_only()",
    "DROP TRIGGER IF EXISTS history_no_truncate ON history",
    "CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON history "
    "FOR EACH STATEMENT EXECUTE FUNCTION ascn_history_append_only()",
]
_PG_DROP = [
    "DROP TRIGGER IF EXISTS history_no_change ON history",
    "DROP TRIGGER IF EXISTS history_no_truncate ON history",
]


def _has_history(connection: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(connection).has_table("history"))


def _run(connection: Any, statements: list[str]) -> None:
    from sqlalchemy import text

    for statement in statements:
        connection.execute(text(statement))


def protect(connection: Any) -> None:
    """Install the triggers (idempotent) on a SQLAlchemy connection, if the history table exists."""
    if _has_history(connection):
        _run(connection, _PG_CREATE if connection.dialect.name == "postgresql" else _SQLITE_CREATE)


def unprotect(connection: Any) -> None:
    """Remove the triggers: for migrations only (and for tests that play an attacker with owner rights)."""
    if _has_history(connection):
        _run(connection, _PG_DROP if connection.dialect.name == "postgresql" else _SQLITE_DROP)
