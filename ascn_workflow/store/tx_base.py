"""The plumbing of a transaction: execute, savepoints, rows decoded into the records of store/tables.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import Conflict
from .dialect import BUSY, Dialect, R, insert, is_contention
from .tables import (
    Table,
)

if TYPE_CHECKING:
    pass


class Statements:
    """The plumbing every area of the port shares: statements on one connection, inside one transaction."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.connection.execute(self.dialect.sql(text), params)
        except Exception as error:
            if is_contention(error):
                raise Conflict(BUSY) from None
            raise

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that an exception undoes alone (the rest stays)."""
        self.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK TO SAVEPOINT part")
            self.execute("RELEASE SAVEPOINT part")
            raise
        self.execute("RELEASE SAVEPOINT part")

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(text, params).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.execute(text, params).fetchone()
        return tuple(row) if row is not None else None

    def _records(self, table: Table[R], text: str, params: Sequence[Any] = ()) -> list[R]:
        decode = self.dialect.decode
        return [decode(table, r) for r in self.execute(text, params).fetchall()]

    def _insert(self, table: Table[Any], records: Sequence[Any], conflict: str = "") -> int:
        if not records:
            return 0
        params = [v for r in records for v in self.dialect.values(table, r)]
        return int(self.execute(insert(table, len(records), conflict), params).rowcount or 0)
