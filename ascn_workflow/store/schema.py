"""The SQLAlchemy metadata of the tables, derived from their declarations in store/tables.py.

Alembic compares the migrations with it (`ascn_workflow.store.migrate.autogenerate`, and a test
that the migrations build exactly these tables); tests write through it to prove that the
DB-API statements of store/sql.py encode every column as SQLAlchemy's own types do. Nothing at run
time needs it: the commands talk DB-API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, MetaData, Table, UniqueConstraint
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from . import tables


def _type(column: tables.Column) -> Any:
    if column.kind == "text":
        return AutoString(length=column.length) if column.length else AutoString()
    return {"integer": Integer, "boolean": Boolean, "instant": UTCDateTime, "json": JSON}[column.kind]()


def _table(metadata: MetaData, declared: tables.Table[Any]) -> Table:
    references = dict(declared.references)
    columns = [
        Column(
            c.name,
            _type(c),
            *([ForeignKey(references[c.name])] if c.name in references else []),
            primary_key=c.name == declared.key,
            autoincrement=declared.generated if c.name == declared.key else False,
            nullable=c.nullable,
            index=c.name in declared.indexed or None,
        )
        for c in declared.columns
    ]
    extras: list[Any] = [UniqueConstraint(*u) for u in declared.unique]
    extras += [Index(i.name, *i.columns) for i in declared.indexes]
    return Table(declared.name, metadata, *columns, *extras)


metadata = MetaData()
TABLES: dict[str, Table] = {declared.name: _table(metadata, declared) for _, declared in tables.TABLES}
