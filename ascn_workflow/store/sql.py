"""The store on plain DB-API (sqlite3 or psycopg): one implementation of the port for both backends.

This module connects and opens transactions; a `Transaction`'s operations live in one module per
area (tx_work, tx_people, tx_mail, tx_records) on tx_base's plumbing and dialect's statements.

Every statement, column list and decoding is derived from the declarations in store/tables.py;
the two backends differ only in what `Dialect` says (placeholders, instants, JSON, booleans).

Why not the ORM (docs/performance.md): importing SQLAlchemy and sqlmodel costs ~0.3 s at the start
of every command, and an ORM round trip about 1 ms; officers run these commands all day. SQLAlchemy
is loaded only to migrate the schema (store/migrate.py).

Instants are UTC, kept by SQLite as text `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy's own format,
which sorts and compares as time does) and by PostgreSQL as timestamptz; JSON is text in SQLite
and json in PostgreSQL. tests/test_store.py writes every column through SQLAlchemy and reads it
here, and the reverse.

Concurrency: a transition is written with `UPDATE … WHERE version = :read_version`, so a concurrent
change makes it update no row and the loser gets `Conflict` (exit 6), never a lost update; the
history row's unique (deliverable, seq) is a second guard. On SQLite a writing transaction starts
with `BEGIN IMMEDIATE` (writers queue on the busy timeout instead of failing on a stale snapshot);
a reading one with `BEGIN`, so every read of a command sees one snapshot.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import BadInput, Conflict, NotFound, Unavailable
from .dialect import BUSY, Dialect, is_contention
from .tx_mail import Mail
from .tx_people import People
from .tx_records import Records
from .tx_work import Work


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///path` URL (query string dropped); None for an in-memory database."""
    if not url.startswith("sqlite:///"):
        return None
    return url[len("sqlite:///") :].split("?", 1)[0] or None


def refuse_folder(url: str) -> None:
    """A `sqlite:///` URL naming a folder is a configuration mistake (exit 2), not a missing database."""
    path = sqlite_path(url)
    if url.startswith("sqlite") and path is not None and Path(path).is_dir():
        raise BadInput(
            f"[database] url names the folder {path}, not a database file: "
            f'name a file in it, e.g. url = "sqlite:///{Path(path) / "ascn.db"}"'
        )


SQLITE_NEEDED = (3, 35, 0)  # UPDATE … RETURNING (Transaction.apply)


def _connect(url: str) -> tuple[Any, Dialect]:
    """A DB-API connection and its dialect; a missing SQLite file is never created by connecting."""
    if url.startswith("sqlite"):
        refuse_folder(url)
        path = sqlite_path(url)
        if path is None or not Path(path).is_file():
            raise NotFound(f"no ASCN database at {url}: run `ascn init` first")
        if sqlite3.sqlite_version_info < SQLITE_NEEDED:
            raise Unavailable(
                f"SQLite {sqlite3.sqlite_version} is too old: ascn needs {'.'.join(map(str, SQLITE_NEEDED))} or newer "
                "(Python's sqlite3 uses the system's library)"
            )
        lite = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        lite.execute("PRAGMA foreign_keys=ON")  # once per connection, not per command
        return lite, Dialect("sqlite")
    import psycopg

    give_up = time.monotonic() + connect_retry_seconds()
    pause = 0.1
    while True:
        try:
            connection = psycopg.connect("postgresql://" + url.split("://", 1)[1], connect_timeout=10)
            break
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            if _server_full(reason) and time.monotonic() + pause < give_up:
                time.sleep(pause)  # the server is out of connections: one may free up shortly
                pause = min(pause * 2, 2.0)
                continue
            if _server_full(reason):
                raise Unavailable(
                    f"the database server has no free connections ({reason}); tried for "
                    f"{connect_retry_seconds():g}s: try again later or raise its max_connections"
                ) from None
            from ..outages import connect_failure

            raise connect_failure(str(error), url) from None
    return connection, Dialect("postgresql")


def _hung_up(connection: Any) -> bool:
    """Whether the server closed this idle connection since its last use (a restart, a failover,
    `pg_terminate_backend`): it then sends its last error and closes, so the socket is readable
    although nothing was asked. One poll, no round trip; without it, each portal thread's first
    request after a database restart failed with "internal error"."""
    import select

    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except Exception:  # no socket any more
        return True
    return bool(readable)


def connect_retry_seconds() -> float:
    """How long to keep trying when the server is out of connections (`$ASCN_CONNECT_RETRY_SECONDS`)."""
    try:
        return max(0.0, float(os.environ.get("ASCN_CONNECT_RETRY_SECONDS", "15")))
    except ValueError:
        return 15.0


def _server_full(reason: str) -> bool:
    lowered = reason.lower()
    return "too many clients" in lowered or "too many connections" in lowered or "connection slots" in lowered


class Store:
    """The database behind one URL: transactions on one connection per thread, checked once.

    `check` (the application's) is called with the schema's revision when a connection opens.
    """

    def __init__(self, url: str, check: Callable[[str | None], None] | None = None) -> None:
        self.url = url
        self.check = check
        self._local = threading.local()

    def _connection(self) -> tuple[Any, Dialect]:
        found: tuple[Any, Dialect] | None = getattr(self._local, "connection", None)
        if found is not None and found[1].pg and (found[0].closed or found[0].broken or _hung_up(found[0])):
            with suppress(Exception):
                found[0].close()
            found = None  # the server went away since (a long-running scheduler or portal): connect again
        if found is None:
            found = _connect(self.url)
            if self.check is not None:
                try:
                    self.check(_revision(*found))
                except BaseException:
                    found[0].close()
                    raise
            self._local.connection = found
        return found

    @contextmanager
    def transaction(self, *, write: bool = True, durable: bool = True, single: bool = False) -> Iterator[Transaction]:
        """One unit of work: committed when the block ends, rolled back on any error.

        `durable=False` commits without waiting for the disk (SQLite `synchronous=NORMAL` in WAL
        mode, PostgreSQL `synchronous_commit = off`): the commit survives the process being
        killed, and the database stays consistent, but a power cut or an operating-system crash
        may undo it. Only for records that are safe to redo, such as the outbox's bookkeeping.

        `single=True` is the caller's promise that on PostgreSQL the block runs one statement:
        it then runs as a transaction by itself (autocommit), without the round trips of BEGIN,
        `SET LOCAL` and COMMIT. `durable` is then the session's `synchronous_commit`, changed
        only when it differs from the last such block's; every other transaction resets it first.
        """
        connection, dialect = self._connection()
        if dialect.pg and write and single:
            with self._single(connection, dialect, durable) as tx:
                yield tx
            return
        relaxed = write and not durable and not dialect.pg
        try:
            if dialect.pg:
                import psycopg

                if write:
                    self._relax(connection, False)
                connection.isolation_level = None if write else psycopg.IsolationLevel.REPEATABLE_READ
                if write and not durable:
                    connection.execute("SET LOCAL synchronous_commit TO OFF")
            else:
                if relaxed:
                    connection.execute("PRAGMA synchronous=NORMAL")  # only outside a transaction
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield Transaction(connection, dialect)
            connection.commit() if write else connection.rollback()
        except BaseException as error:
            try:
                connection.rollback()
            except Exception:  # the connection is gone: forget it, the next transaction reconnects
                self.close()
            if isinstance(error, Exception) and is_contention(error):
                raise Conflict(BUSY) from None
            raise
        finally:
            if relaxed:
                with suppress(Exception):
                    connection.execute("PRAGMA synchronous=FULL")  # sqlite3's default, every other commit

    @contextmanager
    def _single(self, connection: Any, dialect: Dialect, durable: bool) -> Iterator[Transaction]:
        """`transaction(single=True)` on PostgreSQL: one statement in autocommit."""
        try:
            self._relax(connection, not durable)
            connection.autocommit = True
            yield Transaction(connection, dialect)
        except BaseException as error:
            if connection.closed or connection.broken:
                self.close()  # the next transaction reconnects
            if isinstance(error, Exception) and is_contention(error):
                raise Conflict(BUSY) from None
            raise
        finally:
            if not connection.closed:
                with suppress(Exception):
                    connection.autocommit = False

    def _relax(self, connection: Any, relaxed: bool) -> None:
        """PostgreSQL's `synchronous_commit` for the session: off, or back to the server's own
        setting; a statement only when it changes (none for a transaction on a session never relaxed)."""
        if (getattr(self._local, "relaxed", None) is connection) == relaxed:
            return
        autocommit = connection.autocommit
        connection.autocommit = True
        try:
            connection.execute("SET synchronous_commit TO OFF" if relaxed else "RESET synchronous_commit")
        finally:
            connection.autocommit = autocommit
        self._local.relaxed = connection if relaxed else None

    def read(self) -> Any:
        """A transaction that only reads, on one snapshot (SQLite `BEGIN`, PostgreSQL REPEATABLE READ)."""
        return self.transaction(write=False)

    def close(self) -> None:
        found = getattr(self._local, "connection", None)
        self._local.connection = None
        if found is not None:
            with suppress(Exception):
                found[0].close()

    def revision(self) -> str | None:
        """The database's Alembic revision, None when it has no ASCN schema (or no database file)."""
        refuse_folder(self.url)
        if self.url.startswith("sqlite"):
            path = sqlite_path(self.url)
            if path is None or not Path(path).exists():
                return None
        connection, dialect = _connect(self.url)  # a PostgreSQL database that does not exist: NotFound
        try:
            return _revision(connection, dialect)
        finally:
            connection.close()

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (a new database gets all of them)."""
        self.upgrade()

    def upgrade(self) -> None:
        from .migrate import upgrade

        self.close()
        refuse_folder(self.url)
        if not self.url.startswith("sqlite"):  # a server that cannot be reached says so as every command does
            _connect(self.url)[0].close()
        upgrade(self.url)


def _revision(connection: Any, dialect: Dialect) -> str | None:
    """The schema's Alembic revision in one statement, None when there is no ASCN schema: on
    PostgreSQL outside any transaction (autocommit: one round trip, no BEGIN or ROLLBACK), as
    every command pays for it when its connection opens."""
    if dialect.pg:
        import psycopg

        connection.autocommit = True
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        finally:
            connection.autocommit = False
        return str(row[0]) if row else None
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return None
        raise
    return str(row[0]) if row else None


class Transaction(Work, People, Mail, Records):
    """The port: the named operations the services need, inside one transaction (by area: tx_*.py)."""
