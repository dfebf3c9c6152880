"""What differs between SQLite and PostgreSQL, and the statements derived from store/tables.py's declarations.

Everything here is plain text and DB-API values; the area modules (tx_*.py) build on it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from .tables import (
    DELIVERABLE,
    PERSON,
    PERSON_ROLE,
    Table,
)

if TYPE_CHECKING:
    pass


R = TypeVar("R")

BUSY = "the database is busy with another change; try again"


def is_contention(error: BaseException) -> bool:
    """The one contention check: SQLite's busy timeout ran out, or PostgreSQL gave up a
    serialization failure, deadlock or lock wait."""
    code = getattr(error, "sqlstate", None)
    return code in ("40001", "40P01", "55P03") or (
        isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error).lower()
    )


def is_integrity(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) or str(getattr(error, "sqlstate", "") or "").startswith("23")


def decode_instant(value: str | datetime | None) -> datetime | None:
    """SQLite hands back text in UTC; psycopg an aware datetime (timestamptz)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value + "+00:00")  # as below, in a seventh of the time
        except ValueError:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_STORED = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # an instant as SQLite keeps it (UTC, no offset)


class Dialect:
    """What differs between the backends, and the statements derived from the declarations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"
        self._sql: dict[str, str] = {}
        self._instant: tuple[datetime | None, str] = (None, "")  # the last instant encoded (datetimes are immutable)
        self._decoders: dict[str, list[tuple[int, Callable[[Any], Any]]]] = {}
        self._encoders: dict[str, tuple[Callable[[Any], Any], tuple[tuple[int, Callable[[Any], Any]], ...]]] = {}

    def sql(self, text: str) -> str:
        found = self._sql.get(text)
        if found is None:
            found = self._sql[text] = text.replace("?", "%s") if self.pg else text
        return found

    def instant(self, value: datetime | None) -> Any:
        if value is None or self.pg:
            return value
        last, text = self._instant
        if value is not last:  # an advance writes its instant two or three times (issue 15)
            m = value.astimezone(UTC)  # formatted as `.replace(tzinfo=None).isoformat(" ", "microseconds")`, 2× faster
            text = _STORED % (m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond)
            self._instant = (value, text)
        return text

    def json(self, value: Any) -> Any:
        if self.pg:
            from psycopg.types.json import Json

            return Json(value)
        return "{}" if type(value) is dict and not value else json.dumps(value)  # most rows' data and waivers

    def load_json(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return {} if value == "{}" else json.loads(value)

    def encode(self, kind: str, value: Any) -> Any:
        if kind == "instant":
            return self.instant(value)
        if kind == "json":
            return self.json(value)
        return value

    def _decoder(self, kind: str) -> Callable[[Any], Any] | None:
        if kind == "instant":
            return decode_instant
        if kind == "json":
            return self.load_json
        if kind == "boolean" and not self.pg:
            return bool
        return None

    def decode(self, table: Table[R], row: Sequence[Any]) -> R:
        """A record from a row of `columns(table)` (and, if selected, its joined fields in declaration order).

        Only the columns that need decoding are visited (worked out once per table): a deliverable
        has 15 values and 5 such columns."""
        decoders = self._decoders.get(table.name)
        if decoders is None:
            decoders = self._decoders[table.name] = [
                (i, decoder) for i, c in enumerate(table.columns) if (decoder := self._decoder(c.kind)) is not None
            ]
        if len(row) > len(table.columns) + len(table.joined):
            raise ValueError(f"{len(row)} values for the {len(table.columns)} columns of {table.name}")
        values = list(row)
        for i, decode in decoders:
            if i < len(values) and (v := values[i]) is not None:
                values[i] = decode(v)
        return table.record(*values)

    def values(self, table: Table[Any], record: Any) -> tuple[Any, ...]:
        """The parameters of `insert(table)` for one record (how to read and encode them worked out once per table)."""
        plan = self._encoders.get(table.name)
        if plan is None:
            written = table.written
            plan = self._encoders[table.name] = (
                attrgetter(*(c.name for c in written))
                if len(written) > 1
                else lambda r: (getattr(r, written[0].name),),
                tuple(
                    (i, self.instant if c.kind == "instant" else self.json)
                    for i, c in enumerate(written)
                    if c.kind in ("instant", "json")
                ),
            )
        read, encoders = plan
        values = list(read(record))
        for i, encode in encoders:
            values[i] = encode(values[i])
        return tuple(values)


def columns(table: Table[Any], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + name for name in table.names)


def insert(table: Table[Any], rows: int = 1, conflict: str = "") -> str:
    """`INSERT INTO table (…) VALUES (?, …)[, (…)]` for `rows` records (built once for each)."""
    key = (table.name, rows, conflict)
    found = _INSERTS.get(key)
    if found is None:
        names = [c.name for c in table.written]
        one = f"({', '.join('?' * len(names))})"
        found = _INSERTS[key] = (
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {', '.join([one] * rows)}{conflict}"
        )
    return found


_INSERTS: dict[tuple[str, int, str], str] = {}


def in_list(values: Sequence[Any]) -> str:
    return f"({', '.join('?' * len(values))})"


PEOPLE_SELECT = (
    f"SELECT {columns(PERSON, 'p')}, {columns(PERSON_ROLE, 'r')} FROM person p JOIN person_role r ON r.email = p.email"
)
DELIVERABLE_SELECT = (
    f"SELECT {columns(DELIVERABLE, 'd')}, c.zone FROM deliverable d LEFT JOIN city c ON c.slug = d.city"
)
