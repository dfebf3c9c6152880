"""The hot paths on a plain DB-API connection: what `show`, `status` and `history` read, and what
`advance` writes.

Why not the ORM here (docs/performance.md): importing SQLAlchemy and sqlmodel costs ~0.3 s at the
start of every command, and an ORM round trip about 1 ms; officers run these commands all day.
The ORM store keeps everything else and runs these same statements inside its own transaction
(`Db.of(session)`), so each of these queries is written once.

The encodings are exactly those of the ORM's column types (tests/test_direct.py writes through
one and reads through the other): instants are UTC, kept by SQLite as text
`YYYY-MM-DD HH:MM:SS.ffffff` (which sorts and compares as time does) and by PostgreSQL as
timestamptz; JSON is text in SQLite and json in PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound, Unavailable
from ..people import Actor, Grant

if TYPE_CHECKING:
    from ..engine import Outcome, Snapshot

SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite

DELIVERABLE_COLUMNS = (
    "d.id, d.cycle, d.workflow, d.member_state, d.city, d.stage, d.deadline, d.version, d.data, "
    "d.opened_at, d.last_event_at, d.notified_deadline, d.notice_due, c.zone"
)
HISTORY_COLUMNS = (
    "deliverable_id, seq, trigger, source, dest, actor, role, effective_at, recorded_at, note, data, waivers, "
    "prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class Deliverable:
    id: str
    cycle: int
    workflow: str
    member_state: str | None
    city: str | None
    stage: str
    deadline: datetime | None
    version: int
    data: dict[str, Any]
    opened_at: datetime
    last_event_at: datetime | None
    notified_deadline: datetime | None
    notice_due: datetime | None
    city_zone: str | None  # the zone of its city, when it has one

    def snapshot(self) -> Snapshot:
        return snapshot_of(self)

    def after(self, outcome: Outcome) -> Deliverable:
        """The deliverable as `apply(outcome)` left it, without reading it again."""
        return replace(
            self,
            stage=outcome.event.dest,
            deadline=outcome.deadline,
            version=outcome.version + 1,
            data=dict(outcome.data),
            last_event_at=outcome.event.effective_at,
            notice_due=outcome.deadline,
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    deliverable_id: str
    seq: int
    trigger: str
    source: str
    dest: str
    actor: str
    role: str
    effective_at: datetime
    recorded_at: datetime
    note: str | None
    data: dict[str, Any]
    waivers: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Reminder:
    recipient: str
    offset_days: int
    due_at: datetime
    stage: str
    status: str
    entry_version: int


def snapshot_of(row: Any) -> Snapshot:
    """What the engine needs of a deliverable, from a `Deliverable` or an ORM `DeliverableRow`."""
    from ..engine import Snapshot

    return Snapshot(
        id=row.id,
        cycle=row.cycle,
        workflow=row.workflow,
        stage=row.stage,
        version=row.version,
        member_state=row.member_state,
        city=row.city,
        data=dict(row.data or {}),
        last_event_at=row.last_event_at,
    )


def _instant(value: str | datetime | None) -> datetime | None:
    """SQLite hands back text in UTC; psycopg an aware datetime (timestamptz)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored_instant(value: Any) -> datetime:
    """An instant from a NOT NULL column."""
    moment = _instant(value)
    assert moment is not None
    return moment


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///path` URL (query string dropped); None for an in-memory database."""
    if not url.startswith("sqlite:///"):
        return None
    return url[len("sqlite:///") :].split("?", 1)[0] or None


class Db:
    """A DB-API connection (sqlite3 or psycopg) and the statements the hot paths need.

    Statements are written with `?` placeholders and turned into `%s` for psycopg.
    """

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        self._sql: dict[str, str] = {}

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(cls, url: str) -> Db:
        """A connection of its own, for a command that only reads (no SQLAlchemy is loaded)."""
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is None or not Path(path).is_file():  # never create an empty database by looking
                raise NotFound(f"no ASCN database at {url}: run `ascn init` first")
            lite = sqlite3.connect(path, timeout=30, isolation_level=None)
            lite.execute("BEGIN")  # every read of the command sees one snapshot
            return cls(lite, "sqlite")
        import psycopg

        try:
            connection = psycopg.connect("postgresql://" + url.split("://", 1)[1], connect_timeout=10)
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise Unavailable(f"cannot connect to the database: {reason}") from None
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot, as above
        return cls(connection, "postgresql")

    @classmethod
    def of(cls, session: Any) -> Db:
        """The ORM session's own connection: these statements join its transaction and see its changes."""
        if session.new or session.dirty or session.deleted:
            session.flush()
        db: Db | None = session.info.get("ascn.db")
        if db is None:  # one per transaction: the session hands back the same connection until it ends
            connection = session.connection()
            db = session.info["ascn.db"] = cls(connection.connection.driver_connection, connection.dialect.name)
        return db

    def close(self) -> None:
        self.connection.rollback()  # a reader wrote nothing
        self.connection.close()

    # ------------------------------------------------------------------ plumbing

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        sql = self._sql.get(text)
        if sql is None:
            sql = self._sql[text] = text.replace("?", "%s") if self.pg else text
        try:
            return self.connection.execute(sql, params)
        except Exception as error:
            if _is_contention(error):
                raise Conflict("the database is busy with another change; try again") from None
            raise

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(text, params).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.execute(text, params).fetchone()
        return tuple(row) if row is not None else None

    def bind_instant(self, value: datetime | None) -> Any:
        if value is None or self.pg:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")  # SQLITE_INSTANT

    def bind_json(self, value: Any) -> Any:
        if self.pg:
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value)

    def load_json(self, value: Any) -> Any:
        return value if self.pg else json.loads(value)

    # ------------------------------------------------------------------ schema

    def revision(self) -> str | None:
        """The database's Alembic revision, None when it has no ASCN schema."""
        if self.pg:
            found = self.one("SELECT to_regclass('alembic_version') IS NOT NULL")
            exists = bool(found and found[0])
        else:
            exists = (
                self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'") is not None
            )
        if not exists:
            return None
        row = self.one("SELECT version_num FROM alembic_version")
        return str(row[0]) if row else None

    # ------------------------------------------------------------------ reading

    def _deliverable(self, row: Sequence[Any]) -> Deliverable:
        return Deliverable(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            _instant(row[6]),
            row[7],
            self.load_json(row[8]) or {},
            _stored_instant(row[9]),
            _instant(row[10]),
            _instant(row[11]),
            _instant(row[12]),
            row[13],
        )

    def deliverable(self, deliverable_id: str) -> Deliverable:
        row = self.one(
            f"SELECT {DELIVERABLE_COLUMNS} FROM deliverable d LEFT JOIN city c ON c.slug = d.city WHERE d.id = ?",
            (deliverable_id.lower(),),
        )
        if row is None:
            raise NotFound(f"no deliverable {deliverable_id!r}", deliverable=deliverable_id)
        return self._deliverable(row)

    def deliverables(
        self,
        *,
        cycle: int | None = None,
        workflow: str | None = None,
        stage: str | None = None,
        member_state: str | None = None,
        overdue_at: datetime | None = None,
    ) -> list[Deliverable]:
        where, params = [], []
        for clause, value in (
            ("d.cycle = ?", cycle),
            ("d.workflow = ?", workflow or None),
            ("d.stage = ?", stage or None),
            ("d.member_state = ?", member_state.upper() if member_state else None),
            ("d.deadline < ?", self.bind_instant(overdue_at)),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.rows(
            f"SELECT {DELIVERABLE_COLUMNS} FROM deliverable d LEFT JOIN city c ON c.slug = d.city"
            f"{condition} ORDER BY d.cycle, d.workflow, d.id",
            params,
        )
        return [self._deliverable(r) for r in rows]

    def history(self, deliverable_id: str) -> list[HistoryEntry]:
        rows = self.rows(
            f"SELECT {HISTORY_COLUMNS} FROM history WHERE deliverable_id = ? ORDER BY seq", (deliverable_id.lower(),)
        )
        return [
            HistoryEntry(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                _stored_instant(r[7]),
                _stored_instant(r[8]),
                r[9],
                self.load_json(r[10]) or {},
                self.load_json(r[11]) or {},
                r[12],
                r[13],
            )
            for r in rows
        ]

    def reminders(self, deliverable_id: str, entry_version: int) -> list[Reminder]:
        rows = self.rows(
            "SELECT recipient, offset_days, due_at, stage, status, entry_version FROM reminder "
            "WHERE deliverable_id = ? AND entry_version = ? ORDER BY due_at, recipient",
            (deliverable_id, entry_version),
        )
        return [Reminder(r[0], r[1], _stored_instant(r[2]), r[3], r[4], r[5]) for r in rows]

    def actor(self, email: str) -> Actor | None:
        """The person with every role they hold ("" in the store means no scope); None if unknown."""
        rows = self.rows(
            "SELECT role, member_state, city FROM person_role WHERE email = ? ORDER BY id", (email.lower(),)
        )
        if not rows:
            return None
        return Actor(email.lower(), tuple(Grant(r[0], r[1] or None, r[2] or None) for r in rows))

    def stage(self, deliverable_id: str) -> str | None:
        row = self.one("SELECT stage FROM deliverable WHERE id = ?", (deliverable_id,))
        return row[0] if row else None

    def member_cities(self, member_state: str) -> tuple[str, ...]:
        rows = self.rows(
            "SELECT slug FROM city WHERE joined_cycle IS NOT NULL AND member_state = ? ORDER BY slug", (member_state,)
        )
        return tuple(r[0] for r in rows)

    def city_zone(self, slug: str) -> str | None:
        row = self.one("SELECT zone FROM city WHERE slug = ?", (slug,))
        return row[0] if row else None

    # ------------------------------------------------------------------ writing

    def apply(self, outcome: Outcome) -> HistoryEntry:
        """Write a transition and its history row; Conflict if the deliverable moved meanwhile.

        The conditional UPDATE comes first: it takes the deliverable's row, so no other writer can
        extend its hash chain until this transaction ends.
        """
        from ..audit import FIELDS, digest  # hashlib: loaded by writers only

        ev = outcome.event
        updated = self.execute(
            "UPDATE deliverable SET notice_due = ?, stage = ?, deadline = ?, version = ?, data = ?, "
            "last_event_at = ? WHERE id = ? AND version = ?",
            (
                self.bind_instant(outcome.deadline),
                ev.dest,
                self.bind_instant(outcome.deadline),
                outcome.version + 1,
                self.bind_json(dict(outcome.data)),
                self.bind_instant(ev.effective_at),
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
        entry = HistoryEntry(**fields, prev_hash=prev_hash, hash=digest(fields, prev_hash))
        try:
            self.execute(
                f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                (
                    entry.deliverable_id,
                    entry.seq,
                    entry.trigger,
                    entry.source,
                    entry.dest,
                    entry.actor,
                    entry.role,
                    self.bind_instant(entry.effective_at),
                    self.bind_instant(entry.recorded_at),
                    entry.note,
                    self.bind_json(entry.data),
                    self.bind_json(entry.waivers),
                    entry.prev_hash,
                    entry.hash,
                ),
            )
        except Exception as error:
            if _is_integrity(error):
                raise Conflict(
                    f"{outcome.deliverable_id} changed meanwhile; retry", deliverable=outcome.deliverable_id
                ) from None
            raise
        return entry

    def cancel_reminders(self, deliverable_id: str, keep_version: int) -> int:
        """Leaving a stage cancels the reminders planned for it."""
        result = self.execute(
            "UPDATE reminder SET status = 'cancelled' "
            "WHERE deliverable_id = ? AND status = 'planned' AND entry_version <> ?",
            (deliverable_id, keep_version),
        )
        return int(result.rowcount or 0)


def _is_contention(error: BaseException) -> bool:
    """SQLite's busy timeout ran out, or PostgreSQL gave up a serialization failure, deadlock or lock wait."""
    code = getattr(error, "sqlstate", None)
    return code in ("40001", "40P01", "55P03") or (
        isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error).lower()
    )


def _is_integrity(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) or str(getattr(error, "sqlstate", "") or "").startswith("23")
