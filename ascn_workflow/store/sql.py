"""The store on plain DB-API (sqlite3 or psycopg): one implementation of the port for both backends.

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

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BadInput, Conflict, NotFound, Unavailable, did_you_mean
from ..people import Actor, Grant, PersonEntry
from . import tables
from .tables import (
    CALENDAR_CHANGE,
    CALENDAR_FEED,
    CITY,
    CYCLE,
    DELIVERABLE,
    DIRECTORY_CHANGE,
    DOCUMENT,
    HISTORY,
    MEMBER_STATE,
    MILESTONE,
    OUTBOX,
    PERSON,
    PERSON_ROLE,
    REMINDER,
    WEB_SESSION,
    WEB_SIGNIN,
    CalendarChange,
    City,
    Deliverable,
    DirectoryChange,
    DocumentVersion,
    Feed,
    HistoryEntry,
    Message,
    MilestoneRecord,
    Person,
    PersonRole,
    Reminder,
    SignIn,
    Table,
    WebSession,
)

if TYPE_CHECKING:
    from ..engine import Outcome
    from ..opening import Opening
    from ..planning import PlannedReminder
    from ..spec import Network

R = TypeVar("R")

LEASE = timedelta(minutes=10)  # a message being sent by a process that died is retried after this
MAX_BACKOFF = timedelta(hours=1)
BUSY = "the database is busy with another change; try again"


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


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


def is_contention(error: BaseException) -> bool:
    """The one contention check: SQLite's busy timeout ran out, or PostgreSQL gave up a
    serialization failure, deadlock or lock wait."""
    code = getattr(error, "sqlstate", None)
    return code in ("40001", "40P01", "55P03") or (
        isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error).lower()
    )


def _is_integrity(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) or str(getattr(error, "sqlstate", "") or "").startswith("23")


def _instant(value: str | datetime | None) -> datetime | None:
    """SQLite hands back text in UTC; psycopg an aware datetime (timestamptz)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Dialect:
    """What differs between the backends, and the statements derived from the declarations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"
        self._sql: dict[str, str] = {}
        self._decoders: dict[str, list[Callable[[Any], Any] | None]] = {}
        self._encoders: dict[str, tuple[Callable[[Any], Any], tuple[tuple[int, Callable[[Any], Any]], ...]]] = {}

    def sql(self, text: str) -> str:
        found = self._sql.get(text)
        if found is None:
            found = self._sql[text] = text.replace("?", "%s") if self.pg else text
        return found

    def instant(self, value: datetime | None) -> Any:
        if value is None or self.pg:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def json(self, value: Any) -> Any:
        if self.pg:
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value)

    def load_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def encode(self, kind: str, value: Any) -> Any:
        if kind == "instant":
            return self.instant(value)
        if kind == "json":
            return self.json(value)
        return value

    def _decoder(self, kind: str) -> Callable[[Any], Any] | None:
        if kind == "instant":
            return _instant
        if kind == "json":
            return self.load_json
        if kind == "boolean" and not self.pg:
            return bool
        return None

    def decode(self, table: Table[R], row: Sequence[Any]) -> R:
        """A record from a row of `columns(table)` (and, if selected, its joined fields in declaration order)."""
        decoders = self._decoders.get(table.name)
        if decoders is None:
            decoders = self._decoders[table.name] = [self._decoder(c.kind) for c in table.columns] + [None] * len(
                table.joined
            )
        return table.record(
            *[v if d is None or v is None else d(v) for d, v in zip(decoders[: len(row)], row, strict=True)]
        )

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


def _in(values: Sequence[Any]) -> str:
    return f"({', '.join('?' * len(values))})"


PEOPLE_SELECT = (
    f"SELECT {columns(PERSON, 'p')}, {columns(PERSON_ROLE, 'r')} FROM person p JOIN person_role r ON r.email = p.email"
)
DELIVERABLE_SELECT = (
    f"SELECT {columns(DELIVERABLE, 'd')}, c.zone FROM deliverable d LEFT JOIN city c ON c.slug = d.city"
)


def _connect(url: str) -> tuple[Any, Dialect]:
    """A DB-API connection and its dialect; a missing SQLite file is never created by connecting."""
    if url.startswith("sqlite"):
        refuse_folder(url)
        path = sqlite_path(url)
        if path is None or not Path(path).is_file():
            raise NotFound(f"no ASCN database at {url}: run `ascn init` first")
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
        if found is not None and found[1].pg and (found[0].closed or found[0].broken):
            found = None  # the server went away since (a long-running scheduler): connect again
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
    def transaction(self, *, write: bool = True, durable: bool = True) -> Iterator[Transaction]:
        """One unit of work: committed when the block ends, rolled back on any error.

        `durable=False` commits without waiting for the disk (SQLite `synchronous=NORMAL` in WAL
        mode, PostgreSQL `synchronous_commit = off`): the commit survives the process being
        killed, and the database stays consistent, but a power cut or an operating-system crash
        may undo it. Only for records that are safe to redo, such as the outbox's bookkeeping.
        """
        connection, dialect = self._connection()
        relaxed = write and not durable and not dialect.pg
        try:
            if dialect.pg:
                import psycopg

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


class Transaction:
    """The port: the named operations the services need, inside one transaction."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    # ------------------------------------------------------------------ plumbing

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

    # ------------------------------------------------------------------ deliverables

    def deliverable(self, deliverable_id: str) -> Deliverable:
        found = self._records(DELIVERABLE, f"{DELIVERABLE_SELECT} WHERE d.id = ?", (deliverable_id.lower(),))
        if not found:
            hint = did_you_mean(deliverable_id, [r[0] for r in self.rows("SELECT id FROM deliverable")])
            raise NotFound(f"no deliverable {deliverable_id!r}{hint}", deliverable=deliverable_id)
        return found[0]

    def deliverables_by_id(self, ids: Iterable[str]) -> dict[str, Deliverable]:
        """The deliverables of `ids` that exist, by id, in one query."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._records(DELIVERABLE, f"{DELIVERABLE_SELECT} WHERE d.id IN {_in(wanted)}", wanted)
        return {row.id: row for row in rows}

    def deliverables(
        self,
        *,
        cycle: int | None = None,
        workflow: str | None = None,
        stage: str | None = None,
        member_state: str | None = None,
        city: str | None = None,
        overdue_at: datetime | None = None,
        deadline_after: datetime | None = None,
    ) -> list[Deliverable]:
        where, params = [], []
        for clause, value in (
            ("d.cycle = ?", cycle),
            ("d.workflow = ?", workflow or None),
            ("d.stage = ?", stage or None),
            ("d.member_state = ?", member_state.upper() if member_state else None),
            ("d.city = ?", city.lower() if city else None),
            ("d.deadline < ?", self.dialect.instant(overdue_at)),
            ("d.deadline > ?", self.dialect.instant(deadline_after)),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return self._records(DELIVERABLE, f"{DELIVERABLE_SELECT}{condition} ORDER BY d.cycle, d.workflow, d.id", params)

    def deliverables_at(
        self,
        stages: Iterable[tuple[str, str]],
        *,
        member_states: Sequence[str] | None = None,
        cities: Sequence[str] | None = None,
    ) -> list[Deliverable]:
        """Deliverables at any of these (workflow, stage) pairs, within these member states or cities if
        given: a person's work, read through the stage index instead of scanning their whole scope."""
        pairs = sorted(set(stages))
        if not pairs:
            return []
        where = [f"({' OR '.join(['(d.stage = ? AND d.workflow = ?)'] * len(pairs))})"]
        params: list[Any] = [v for workflow, stage in pairs for v in (stage, workflow)]
        if member_states is not None:
            where.append(f"d.member_state IN {_in(member_states)}" if member_states else "1 = 0")
            params += [m.upper() for m in member_states]
        if cities is not None:
            where.append(f"d.city IN {_in(cities)}" if cities else "1 = 0")
            params += [c.lower() for c in cities]
        return self._records(
            DELIVERABLE, f"{DELIVERABLE_SELECT} WHERE {' AND '.join(where)} ORDER BY d.deadline, d.id", params
        )

    def stage(self, deliverable_id: str) -> str | None:
        """A deliverable's stage (the rules ask about other deliverables)."""
        row = self.one("SELECT stage FROM deliverable WHERE id = ?", (deliverable_id,))
        return row[0] if row else None

    def open(self, openings: Sequence[Opening], now: datetime) -> list[str]:
        """Create the deliverables that do not exist yet (idempotent); returns the ids created."""
        if not openings:
            return []
        ids = [o.id for o in openings]
        existing = {r[0] for r in self.rows(f"SELECT id FROM deliverable WHERE id IN {_in(ids)}", ids)}
        new = [
            Deliverable(
                id=o.id,
                cycle=o.cycle,
                workflow=o.workflow,
                member_state=o.member_state,
                city=o.city,
                stage=o.stage,
                deadline=o.deadline,
                version=1,
                data=dict(o.data or {}),
                opened_at=now,
                notice_due=tables.notice_due(o.deadline),
            )
            for o in dict((o.id, o) for o in openings if o.id not in existing).values()
        ]
        for start in range(0, len(new), 100):
            self._insert(DELIVERABLE, new[start : start + 100])
        return [d.id for d in new]

    def apply(self, outcome: Outcome, channel: str = "cli", recorded_by: str | None = None) -> HistoryEntry:
        """Write a transition and its history row; Conflict if the deliverable moved meanwhile.

        `channel` (cli or web) and `recorded_by` (the proven person who recorded it) are provenance,
        covered by the row's hash (audit.PROVENANCE).

        The conditional UPDATE comes first: it takes the deliverable's row, so no other writer can
        extend its hash chain until this transaction ends.
        """
        from ..audit import FIELDS, digest  # hashlib: loaded by writers only

        ev = outcome.event
        d = self.dialect
        updated = self.execute(
            "UPDATE deliverable SET notice_due = ?, stage = ?, deadline = ?, version = ?, data = ?, "
            "last_event_at = ? WHERE id = ? AND version = ?",
            (
                d.instant(tables.notice_due(outcome.deadline)),
                ev.dest,
                d.instant(outcome.deadline),
                outcome.version + 1,
                d.json(dict(outcome.data)),
                d.instant(ev.effective_at),
                outcome.deliverable_id,
                outcome.version,
            ),
        )
        if updated.rowcount != 1:
            raise Conflict(
                f"{outcome.deliverable_id} changed while {ev.trigger} was being applied; "
                "look at it again (ascn show) and retry",
                deliverable=outcome.deliverable_id,
            )
        found = self.one(
            "SELECT hash FROM history WHERE deliverable_id = ? AND seq = ?",
            (outcome.deliverable_id, outcome.version - 1),
        )
        fields: dict[str, Any] = {
            "deliverable_id": outcome.deliverable_id,
            "seq": outcome.version,
            "trigger": ev.trigger,
            "source": ev.source,
            "dest": ev.dest,
            "actor": ev.actor,
            "role": ev.role,
            "effective_at": ev.effective_at,
            "recorded_at": ev.recorded_at,
            "note": ev.note,
            "data": dict(ev.data),
            "waivers": dict(ev.waivers),
        }
        assert tuple(fields) == FIELDS
        prev_hash = found[0] if found else ""
        hashed = digest({**fields, "channel": channel, "recorded_by": recorded_by}, prev_hash)
        entry = HistoryEntry(**fields, prev_hash=prev_hash, hash=hashed, channel=channel, recorded_by=recorded_by)
        try:
            self._insert(HISTORY, [entry])
        except Exception as error:
            if _is_integrity(error):
                raise Conflict(
                    f"{outcome.deliverable_id} changed meanwhile; retry", deliverable=outcome.deliverable_id
                ) from None
            raise
        return entry

    def history(self, deliverable_id: str | None = None) -> list[HistoryEntry]:
        """One deliverable's history in order, or every deliverable's (by deliverable, then seq)."""
        if deliverable_id is None:
            return self._records(HISTORY, f"SELECT {columns(HISTORY)} FROM history ORDER BY deliverable_id, seq")
        return self._records(
            HISTORY,
            f"SELECT {columns(HISTORY)} FROM history WHERE deliverable_id = ? ORDER BY seq",
            (deliverable_id.lower(),),
        )

    def history_of_cycle(self, cycle: int) -> list[HistoryEntry]:
        """The history of a cycle's deliverables, in the order things happened."""
        return self._records(
            HISTORY,
            f"SELECT {columns(HISTORY, 'h')} FROM history h JOIN deliverable d ON d.id = h.deliverable_id "
            "WHERE d.cycle = ? ORDER BY h.effective_at, h.id",
            (cycle,),
        )

    # ------------------------------------------------------------------ network and cycles

    def load_network(self, network: Network) -> int:
        """Insert member states and cities not yet stored; returns how many rows were added."""
        known_states = {r[0] for r in self.rows("SELECT code FROM member_state")}
        known_cities = {r[0] for r in self.rows("SELECT slug FROM city")}
        states = [
            tables.MemberStateRecord(s.code, s.name, s.zone, s.capital.slug)
            for s in network.member_states.values()
            if s.code not in known_states
        ]
        cities = [
            City(c.slug, c.name, c.member_state, c.zone, c.capital)
            for c in network.cities
            if c.slug not in known_cities
        ]
        self._insert(MEMBER_STATE, states)
        for start in range(0, len(cities), 100):
            self._insert(CITY, cities[start : start + 100])
        return len(states) + len(cities)

    def join_city(self, slug: str, name: str, member_state: str, zone: str, cycle: int) -> None:
        """An accepted nomination makes the city a member from `cycle` (adding it if it is new)."""
        if self.city(slug) is None:
            self._insert(CITY, [City(slug, name, member_state, zone, joined_cycle=cycle)])
        else:
            self.execute("UPDATE city SET joined_cycle = ? WHERE slug = ? AND joined_cycle IS NULL", (cycle, slug))

    def member_cities(self, member_state: str) -> tuple[str, ...]:
        """A member state's member cities (the rules ask)."""
        rows = self.rows(
            "SELECT slug FROM city WHERE joined_cycle IS NOT NULL AND member_state = ? ORDER BY slug", (member_state,)
        )
        return tuple(r[0] for r in rows)

    def cities(self, *, members: bool = False, joined_before: int | None = None) -> list[City]:
        """Cities by member state and slug; `members`: only member cities, those that joined before
        `joined_before` if given."""
        where = ""
        params: list[Any] = []
        if members or joined_before is not None:
            where = " WHERE joined_cycle IS NOT NULL"
        if joined_before is not None:
            where += " AND joined_cycle < ?"
            params.append(joined_before)
        return self._records(CITY, f"SELECT {columns(CITY)} FROM city{where} ORDER BY member_state, slug", params)

    def city(self, slug: str) -> City | None:
        found = self._records(CITY, f"SELECT {columns(CITY)} FROM city WHERE slug = ?", (slug,))
        return found[0] if found else None

    def cycles(self) -> list[int]:
        """The cycles opened, in order."""
        return [r[0] for r in self.rows("SELECT year FROM cycle ORDER BY year")]

    def record_cycle(self, cycle: int, now: datetime) -> bool:
        if self.one("SELECT 1 FROM cycle WHERE year = ?", (cycle,)) is not None:
            return False
        self._insert(CYCLE, [tables.Cycle(cycle, now)])
        return True

    def current_cycle(self, year: int) -> int | None:
        """The latest open cycle that has begun by `year`."""
        row = self.one("SELECT MAX(year) FROM cycle WHERE year <= ?", (year,))
        return int(row[0]) if row and row[0] is not None else None

    # ------------------------------------------------------------------ people

    def actor(self, email: str) -> Actor | None:
        """The person with every role they hold ("" in the store means no scope); None if unknown."""
        rows = self.rows(
            "SELECT role, member_state, city FROM person_role WHERE email = ? ORDER BY id", (email.lower(),)
        )
        if not rows:
            return None
        return Actor(email.lower(), tuple(Grant(r[0], r[1] or None, r[2] or None) for r in rows))

    def add_people(self, entries: Iterable[PersonEntry], actor: str, now: datetime) -> int:
        """Add people and roles; a role already held is kept once. Returns the roles added.

        Each role granted and each name changed is appended to the directory's hash chain with
        `actor` and `now` (who did it, when): `ascn audit verify` checks the tables against it."""
        added = 0
        for entry in entries:
            found = self.one("SELECT name FROM person WHERE email = ?", (entry.email,))
            if found is None:
                self._insert(PERSON, [Person(entry.email, entry.name)])
            elif found[0] != entry.name:
                self.execute("UPDATE person SET name = ? WHERE email = ?", (entry.name, entry.email))
            grant = entry.grant
            role = PersonRole(entry.email, grant.role, grant.member_state or "", grant.city or "")
            new = self._insert(PERSON_ROLE, [role], " ON CONFLICT DO NOTHING")
            added += new
            if new or (found is not None and found[0] != entry.name):
                self._record_change(entry, actor, now)
        return added

    def _record_change(self, entry: PersonEntry, actor: str, now: datetime) -> None:
        from ..audit import directory_digest  # hashlib: loaded by writers only

        last = self.one("SELECT seq, hash FROM directory_change ORDER BY seq DESC LIMIT 1")
        seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, "")
        grant = entry.grant
        change = DirectoryChange(
            seq, now, actor, entry.email, entry.name, grant.role, grant.member_state or "", grant.city or ""
        )
        fields = {name: getattr(change, name) for name in DIRECTORY_CHANGE.names}
        self._insert(DIRECTORY_CHANGE, [replace(change, prev_hash=prev_hash, hash=directory_digest(fields, prev_hash))])

    def directory_changes(self) -> list[DirectoryChange]:
        """The directory's chain, in order."""
        return self._records(DIRECTORY_CHANGE, f"SELECT {columns(DIRECTORY_CHANGE)} FROM directory_change ORDER BY seq")

    def chair_grants(self) -> frozenset[str]:
        """The member states someone holds an explicit `chair` grant for (engine.chair_seat)."""
        return frozenset(
            str(r[0]) for r in self.rows("SELECT DISTINCT member_state FROM person_role WHERE role = 'chair'")
        )

    def has_role(self, role: str) -> bool:
        return self.one("SELECT 1 FROM person_role WHERE role = ? LIMIT 1", (role,)) is not None

    def people(self, role: str | None = None, member_state: str | None = None) -> list[tuple[Person, PersonRole]]:
        where, params = [], []
        if role:
            where.append("r.role = ?")
            params.append(role)
        if member_state:
            where.append("r.member_state = ?")
            params.append(member_state.upper())
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return self._people(
            f"{condition} ORDER BY r.role, r.member_state, r.city, p.email",
            params,
        )

    def people_in_scope(
        self,
        roles: Sequence[str],
        network_roles: Sequence[str],
        member_states: Sequence[str],
        cities: Sequence[str],
    ) -> list[tuple[Person, PersonRole]]:
        """People holding `roles` who could cover some deliverables: `network_roles`, the people of
        `member_states`, the CSCOs of `cities`. One query for a whole batch of deliverables, of
        three branches each answered by an index of its own (migration 0011), so that it follows
        the deliverables, not the size of the directory."""
        network = sorted(set(roles) & set(network_roles))
        local = sorted(set(roles) - set(network_roles) - {"csco"})
        branches: list[tuple[str, list[Any]]] = []
        if network:
            branches.append((f"r.role IN {_in(network)}", network))
        if local and member_states:
            branches.append(
                (f"r.role IN {_in(local)} AND r.member_state IN {_in(member_states)}", [*local, *member_states])
            )
        if "csco" in roles and cities:
            branches.append((f"r.role = 'csco' AND r.city IN {_in(cities)}", list(cities)))
        if not branches:
            return []
        width = len(PERSON.names)
        order = [width + PERSON_ROLE.names.index(name) + 1 for name in ("email", "id")]  # a union orders by position
        text = " UNION ALL ".join(f"{PEOPLE_SELECT} WHERE {where}" for where, _ in branches)
        return self._decode_people(
            self.rows(f"{text} ORDER BY {order[0]}, {order[1]}", [p for _, params in branches for p in params])
        )

    def _people(self, tail: str, params: Sequence[Any]) -> list[tuple[Person, PersonRole]]:
        return self._decode_people(self.rows(f"{PEOPLE_SELECT}{tail}", params))

    def _decode_people(self, rows: list[tuple[Any, ...]]) -> list[tuple[Person, PersonRole]]:
        width = len(PERSON.names)
        decode = self.dialect.decode
        return [(decode(PERSON, r[:width]), decode(PERSON_ROLE, r[width:])) for r in rows]

    # ------------------------------------------------------------------ reminders

    def reminders(self, deliverable_id: str, entry_version: int) -> list[Reminder]:
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE deliverable_id = ? AND entry_version = ? "
            "ORDER BY due_at, recipient",
            (deliverable_id, entry_version),
        )

    def cancel_reminders(self, deliverable_id: str, keep_version: int) -> int:
        """Leaving a stage cancels the reminders planned for it."""
        result = self.execute(
            "UPDATE reminder SET status = 'cancelled' "
            "WHERE deliverable_id = ? AND status = 'planned' AND entry_version <> ?",
            (deliverable_id, keep_version),
        )
        return int(result.rowcount or 0)

    def add_reminders(self, deliverable: Deliverable, planned: Sequence[PlannedReminder]) -> int:
        """Plan reminders for the deliverable's current stage entry; one planned already is kept once."""
        records = [
            Reminder(
                deliverable_id=deliverable.id,
                entry_version=deliverable.version,
                stage=deliverable.stage,
                recipient=p.recipient.email,
                offset_days=p.offset_days,
                due_at=p.due_at,
                deadline=p.deadline,
            )
            for p in planned
        ]
        return sum(
            self._insert(REMINDER, records[start : start + 100], " ON CONFLICT DO NOTHING")
            for start in range(0, len(records), 100)
        )

    def due_reminders(self, now: datetime) -> list[Reminder]:
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE status = 'planned' AND due_at <= ? "
            "ORDER BY deliverable_id, recipient",
            (self.dialect.instant(now),),
        )

    def claim_reminders(self, ids: Sequence[int], status: str, message_id: str | None) -> bool:
        """Move planned reminders to `status`; False if another process claimed any of them first."""
        result = self.execute(
            f"UPDATE reminder SET status = ?, message_id = ? WHERE status = 'planned' AND id IN {_in(ids)}",
            (status, message_id, *ids),
        )
        return int(result.rowcount) == len(ids)

    # ------------------------------------------------------------------ deadlines

    def past_deadline(self, now: datetime, stages: Iterable[tuple[str, str]]) -> list[Deliverable]:
        """Deliverables in a stage with a deadline transition whose deadline passed (index: stage, deadline)."""
        pairs = set(stages)
        if not pairs:
            return []
        names = sorted({stage for _, stage in pairs})
        rows = self._records(
            DELIVERABLE,
            f"{DELIVERABLE_SELECT} WHERE d.stage IN {_in(names)} AND d.deadline < ? ORDER BY d.deadline, d.id",
            (*names, self.dialect.instant(now)),
        )
        return [r for r in rows if (r.workflow, r.stage) in pairs]

    def notice_owed(self, now: datetime, stages: Iterable[tuple[str, str]]) -> list[Deliverable]:
        """Deliverables past a deadline that moves nothing and whose notice is owed (index: notice_due)."""
        pairs = set(stages)
        rows = self._records(
            DELIVERABLE,
            f"{DELIVERABLE_SELECT} WHERE d.notice_due < ? ORDER BY d.notice_due, d.id",
            (self.dialect.instant(now),),
        )
        return [r for r in rows if (r.workflow, r.stage) not in pairs]

    def claim_notice(self, deliverable_id: str, deadline: datetime) -> bool:
        """One overdue notice per missed deadline: whoever sets `notified_deadline` first sends it.

        Either way the notice is no longer owed, so `notice_due` is cleared and the row leaves the
        scan of later passes (a deliverable may re-enter a stage whose deadline was notified already).
        """
        at = self.dialect.instant(deadline)
        result = self.execute(
            "UPDATE deliverable SET notified_deadline = ?, notice_due = NULL "
            "WHERE id = ? AND (notified_deadline IS NULL OR notified_deadline <> ?)",
            (at, deliverable_id, at),
        )
        if result.rowcount == 1:
            return True
        self.execute(
            "UPDATE deliverable SET notice_due = NULL WHERE id = ? AND notice_due IS NOT NULL", (deliverable_id,)
        )
        return False

    def next_due(self, trigger_stages: Iterable[tuple[str, str]]) -> datetime | None:
        """The earliest instant at which there will be due work (for the scheduler's next job)."""
        names = sorted({stage for _, stage in trigger_stages})
        queries: list[tuple[str, Sequence[Any]]] = [
            ("SELECT MIN(due_at) FROM reminder WHERE status = 'planned'", ()),
            ("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'queued'", ()),
            ("SELECT MIN(notice_due) FROM deliverable", ()),
        ]
        if names:
            queries.append((f"SELECT MIN(deadline) FROM deliverable WHERE stage IN {_in(names)}", names))
        found = [_instant(row[0]) for text, params in queries if (row := self.one(text, params)) is not None]
        instants = [f for f in found if f is not None]
        return min(instants) if instants else None

    # ------------------------------------------------------------------ outbox

    def queue_message(self, message: Message) -> None:
        self._insert(OUTBOX, [message])

    def messages_to_send(self, now: datetime, *, after: int = 0, limit: int | None = None) -> list[Message]:
        """Queued messages whose next attempt is due, and those whose sender died mid-send (lease
        over), in order; `after` and `limit` read them a page at a time (a page of 100,000
        rendered messages would be a gigabyte)."""
        at = self.dialect.instant(now)
        page = f" LIMIT {int(limit)}" if limit is not None else ""
        return self._records(
            OUTBOX,
            f"SELECT {columns(OUTBOX)} FROM outbox WHERE {_SENDABLE} AND id > ? ORDER BY id{page}",
            (at, at, after),
        )

    def count_sendable(self, now: datetime) -> int:
        at = self.dialect.instant(now)
        found = self.one(f"SELECT COUNT(*) FROM outbox WHERE {_SENDABLE}", (at, at))
        return int(found[0]) if found else 0

    def claim_message(self, message: Message, now: datetime) -> bool:
        at = self.dialect.instant(now)
        result = self.execute(
            f"UPDATE outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1 WHERE id = ? AND {_SENDABLE}",
            (self.dialect.instant(now + LEASE), message.id, at, at),
        )
        return int(result.rowcount) == 1

    def finish_message(
        self, message_id: int, now: datetime, error: str | None = None, retry: bool = False, attempts: int = 1
    ) -> None:
        instant = self.dialect.instant
        if error is None:
            self.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, lease_until = NULL WHERE id = ?",
                (instant(now), message_id),
            )
        elif retry:
            self.execute(
                "UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = ?, lease_until = NULL "
                "WHERE id = ?",
                (error, instant(now + backoff(attempts)), message_id),
            )
        else:
            self.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?, lease_until = NULL WHERE id = ?",
                (error, message_id),
            )

    def note_warning(self, message_id: int, warning: str) -> None:
        self.execute("UPDATE outbox SET last_error = ? WHERE id = ?", (warning, message_id))

    def outbox(self, status: str | None = None) -> list[Message]:
        where = " WHERE status = ?" if status else ""
        return self._records(
            OUTBOX, f"SELECT {columns(OUTBOX)} FROM outbox{where} ORDER BY id", (status,) if status else ()
        )

    # ------------------------------------------------------------------ calendar and documents

    def milestones(self, cycle: int | None = None) -> list[MilestoneRecord]:
        """The milestones the database holds (a cycle's, or every cycle's): the calendar's truth."""
        if cycle is None:
            return self._records(MILESTONE, f"SELECT {columns(MILESTONE)} FROM milestone ORDER BY ref")
        return self._records(
            MILESTONE, f"SELECT {columns(MILESTONE)} FROM milestone WHERE cycle = ? ORDER BY ref", (cycle,)
        )

    def seed_milestones(self, records: Sequence[MilestoneRecord]) -> int:
        """Store a cycle's milestones from its calendar file; those stored already are kept as they are."""
        return self._insert(MILESTONE, records, " ON CONFLICT DO NOTHING")

    def move_milestone(self, record: MilestoneRecord) -> None:
        self.execute(
            "UPDATE milestone SET first_day = ?, last_day = ?, zone = ?, same_as = ?, revision = ? WHERE ref = ?",
            (record.first_day, record.last_day, record.zone, record.same_as, record.revision, record.ref),
        )

    def calendar_changes(self, cycle: int | None = None) -> list[CalendarChange]:
        where, params = (" WHERE cycle = ?", (cycle,)) if cycle is not None else ("", ())
        return self._records(
            CALENDAR_CHANGE, f"SELECT {columns(CALENDAR_CHANGE)} FROM calendar_change{where} ORDER BY seq", params
        )

    def last_calendar_change(self) -> int:
        """The seq of the newest calendar change (0 when none): a long-running process compares it."""
        found = self.one("SELECT MAX(seq) FROM calendar_change")
        return int(found[0]) if found and found[0] is not None else 0

    def add_calendar_change(self, change: CalendarChange) -> CalendarChange:
        """Append a change to the calendar's chain (the next seq, hashed over the previous row's hash);
        Conflict if another change took that place meanwhile."""
        from ..audit import change_digest

        last = self.one("SELECT seq, hash FROM calendar_change ORDER BY seq DESC LIMIT 1")
        seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, "")
        placed = replace(change, seq=seq, prev_hash=prev_hash)
        entry = replace(placed, hash=change_digest(asdict(placed), prev_hash))
        try:
            self._insert(CALENDAR_CHANGE, [entry])
        except Exception as error:
            if _is_integrity(error):
                raise Conflict("the calendar changed meanwhile; look again (ascn calendar history) and retry") from None
            raise
        return entry

    def reminders_since(self, deliverable_id: str, entry_version: int) -> list[Reminder]:
        """The reminders of a stage entry and of the deadline moves since (they keep the stage)."""
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE deliverable_id = ? AND entry_version >= ? "
            "ORDER BY due_at, recipient",
            (deliverable_id, entry_version),
        )

    def keep_sent(self, deliverable: Deliverable, sent: Sequence[Reminder]) -> int:
        """Carry reminders already sent into the deliverable's new version as `skipped` rows, so that
        planning this stage entry again (a moved deadline, a new person) never sends them twice."""
        records = [
            replace(r, entry_version=deliverable.version, status="skipped", message_id=None, id=None) for r in sent
        ]
        return self._insert(REMINDER, records, " ON CONFLICT DO NOTHING")

    def documents(self, deliverable_id: str) -> list[DocumentVersion]:
        """A deliverable's document versions, oldest first."""
        return self._records(
            DOCUMENT,
            f"SELECT {columns(DOCUMENT)} FROM document WHERE deliverable_id = ? ORDER BY id",
            (deliverable_id.lower(),),
        )

    def add_document(self, document: DocumentVersion) -> bool:
        """Record a version; False when the deliverable has these bytes already (kept as first added).
        Each row is chained to the deliverable's previous one by hash, as its history is; the
        deliverable's row is taken first, so racing adds cannot fork the chain."""
        from ..audit import document_digest

        self.execute("UPDATE deliverable SET version = version WHERE id = ?", (document.deliverable_id,))
        last = self.one(
            "SELECT hash FROM document WHERE deliverable_id = ? ORDER BY id DESC LIMIT 1", (document.deliverable_id,)
        )
        placed = replace(document, prev_hash=str(last[0]) if last else "")
        document = replace(placed, hash=document_digest(asdict(placed), placed.prev_hash))
        return self._insert(DOCUMENT, [document], " ON CONFLICT DO NOTHING") == 1

    def message(self, message_id: str) -> Message | None:
        found = self._records(OUTBOX, f"SELECT {columns(OUTBOX)} FROM outbox WHERE message_id = ?", (message_id,))
        return found[0] if found else None

    def redact_message(self, message_id: str, raw: str) -> None:
        """Replace a delivered message's stored text (a sign-in link must not outlive its sending)."""
        self.execute("UPDATE outbox SET raw = ? WHERE message_id = ?", (raw, message_id))

    # ------------------------------------------------------------------ the portal: people, links, sessions, feeds

    def person(self, email: str) -> Person | None:
        found = self._records(PERSON, f"SELECT {columns(PERSON)} FROM person WHERE email = ?", (email.lower(),))
        return found[0] if found else None

    def person_by_login(self, login: str) -> Person | None:
        found = self._records(PERSON, f"SELECT {columns(PERSON)} FROM person WHERE login = ?", (login,))
        return found[0] if found else None

    def any_login_linked(self) -> bool:
        """Whether any person is linked to a login yet (a proving [auth] mode's bootstrap window)."""
        return self.one("SELECT 1 FROM person WHERE login IS NOT NULL LIMIT 1") is not None

    def set_login(self, email: str, login: str) -> None:
        """Link a person to an OS or database user name; Conflict if another person has it."""
        holder = self.person_by_login(login)
        if holder is not None and holder.email != email.lower():
            raise Conflict(f"login {login!r} already belongs to {holder.email}")
        self.execute("UPDATE person SET login = ? WHERE email = ?", (login, email.lower()))

    def session_user(self) -> str:
        """PostgreSQL's session user (the proven database login); SQLite has none."""
        if not self.dialect.pg:
            raise BadInput('[auth] cli = "database-user" needs PostgreSQL: the embedded SQLite file has no users')
        row = self.one("SELECT session_user")
        assert row is not None
        return str(row[0])

    def signin_links_since(self, email: str, since: datetime) -> int:
        row = self.one(
            "SELECT COUNT(*) FROM web_signin WHERE email = ? AND created_at > ?", (email, self.dialect.instant(since))
        )
        return int(row[0]) if row else 0

    def add_signin(self, link: SignIn) -> None:
        self._insert(WEB_SIGNIN, [link])

    def signin(self, token_hash: str) -> SignIn | None:
        found = self._records(
            WEB_SIGNIN, f"SELECT {columns(WEB_SIGNIN)} FROM web_signin WHERE token_hash = ?", (token_hash,)
        )
        return found[0] if found else None

    def use_signin(self, link_id: int, now: datetime) -> bool:
        """Mark a link used; False if another request used it first (single use under races)."""
        result = self.execute(
            "UPDATE web_signin SET used_at = ? WHERE id = ? AND used_at IS NULL", (self.dialect.instant(now), link_id)
        )
        return int(result.rowcount) == 1

    def add_web_session(self, session: WebSession) -> None:
        self._insert(WEB_SESSION, [session])

    def web_session(self, token_hash: str) -> tuple[WebSession, Person] | None:
        row = self.one(
            f"SELECT {columns(WEB_SESSION, 's')}, p.name FROM web_session s JOIN person p ON p.email = s.email "
            "WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        session = self.dialect.decode(WEB_SESSION, row[:-1])
        return session, Person(session.email, str(row[-1]))

    def end_web_sessions(self, now: datetime, *, token_hash: str | None = None, email: str | None = None) -> int:
        """End one session (by its token's hash) or every session of a person."""
        column, value = ("token_hash", token_hash) if token_hash is not None else ("email", email)
        result = self.execute(
            f"UPDATE web_session SET ended_at = ? WHERE {column} = ? AND ended_at IS NULL",
            (self.dialect.instant(now), value),
        )
        return int(result.rowcount or 0)

    def add_feed(self, feed: Feed) -> None:
        self._insert(CALENDAR_FEED, [feed])

    def feed(self, token_hash: str) -> Feed | None:
        found = self._records(
            CALENDAR_FEED, f"SELECT {columns(CALENDAR_FEED)} FROM calendar_feed WHERE token_hash = ?", (token_hash,)
        )
        return found[0] if found else None

    def revoke_feeds(self, email: str, now: datetime) -> int:
        result = self.execute(
            "UPDATE calendar_feed SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL",
            (self.dialect.instant(now), email),
        )
        return int(result.rowcount or 0)

    def has_feed(self, email: str) -> bool:
        return self.one("SELECT 1 FROM calendar_feed WHERE email = ? AND revoked_at IS NULL", (email,)) is not None

    # ------------------------------------------------------------------ whole tables (export, import)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows as mappings (export file key -> rows), in dependency order."""
        return {
            key: [{name: getattr(r, name) for name in table.names} for r in self._all(table)]
            for key, table in tables.TABLES
        }

    def _all(self, table: Table[R]) -> list[R]:
        return self._records(table, f"SELECT {columns(table)} FROM {table.name} ORDER BY {table.key}")

    def restore(self, document: Mapping[str, Any]) -> dict[str, int]:
        """Load an export into an empty database (a key the database assigns is assigned again);
        instants come as ISO 8601 text. Returns the rows restored per table."""
        if self.one("SELECT 1 FROM deliverable") is not None or self.one("SELECT 1 FROM person") is not None:
            raise BadInput("import needs an empty database: this one already holds deliverables or people")
        counts = {}
        for key, table in tables.TABLES:
            instants = {c.name for c in table.columns if c.kind == "instant"}
            generated = table.key if table.generated else None
            records = [
                table.record(
                    **{
                        k: (datetime.fromisoformat(v) if k in instants and v is not None else v)
                        for k, v in raw.items()
                        if k != generated
                    }
                )
                for raw in document.get(key, [])
            ]
            for start in range(0, len(records), 100):
                self._insert(table, records[start : start + 100])
            counts[key] = len(records)
        return counts


_SENDABLE = (
    "((status = 'queued' AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until < ?))"  # leases run out
)
