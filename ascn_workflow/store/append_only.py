"""The audit trail's tables are append-only in the database itself: triggers refuse UPDATE, DELETE
(and TRUNCATE) of the history, the calendar changes, the people directory's changes and the
document rows (the hash chains `ascn audit verify` checks; migration 0008 added the calendar's and
the directory's, 0010 the documents').

Migrations are the one exception: the migration environment drops the triggers before it runs
and puts them back afterwards (`migrations/env.py`), so a migration may rewrite these rows
(0002 hashed the history rows already stored). Anything done around them is still caught by
`ascn audit verify`.
"""

from __future__ import annotations

from typing import Any

TABLES = ("history", "calendar_change", "directory_change", "document")


def message(table: str) -> str:
    return f"{table} is append-only"


def _sqlite_create(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message(table)}'); END"
        for verb in ("update", "delete")
    ]


def _sqlite_drop(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for verb in ("update", "delete")]


_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION ascn_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = '42501'; END $$"
)


def _pg_create(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ascn_append_only()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ascn_append_only()",
    ]


def _pg_drop(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def _present(connection: Any) -> list[str]:
    from sqlalchemy import inspect

    inspector = inspect(connection)
    return [table for table in TABLES if inspector.has_table(table)]


def _run(connection: Any, statements: list[str]) -> None:
    from sqlalchemy import text

    for statement in statements:
        connection.execute(text(statement))


def protect(connection: Any) -> None:
    """Install the triggers (idempotent) on a SQLAlchemy connection, on those of the tables that exist."""
    pg = connection.dialect.name == "postgresql"
    present = _present(connection)
    if pg and present:
        _run(connection, [_PG_FUNCTION])
    for table in present:
        _run(connection, _pg_create(table) if pg else _sqlite_create(table))


def unprotect(connection: Any) -> None:
    """Remove the triggers: for migrations only (and for tests that play an attacker with owner rights)."""
    pg = connection.dialect.name == "postgresql"
    for table in _present(connection):
        _run(connection, _pg_drop(table) if pg else _sqlite_drop(table))
