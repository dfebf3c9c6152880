"""The repository: reads snapshots for the engine and writes its outcomes, one transaction each.

Concurrency is optimistic: a transition is written with `UPDATE … WHERE version = :read_version`
as the first statement of its transaction, so a concurrent change makes it update no row and the
loser gets `Conflict` (exit 6) instead of overwriting — never a lost update. The history row has
a unique (deliverable, seq) as a second guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine, select

from ..engine import Outcome, Snapshot
from ..errors import Conflict, NotFound
from ..opening import Opening
from ..people import Actor, PersonEntry
from ..spec import Network
from .direct import Db, Deliverable, HistoryEntry
from .queue import QueueStore
from .tables import CityRow, CycleRow, DeliverableRow, MemberStateRow, PersonRow, RoleRow


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _is_contention(error: exc.DBAPIError) -> bool:
    """SQLite's busy timeout ran out, or PostgreSQL gave up a serialization failure or deadlock."""
    code = getattr(error.orig, "sqlstate", None)
    return code in ("40001", "40P01", "55P03") or "database is locked" in str(error).lower()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: Any) -> None:
    """`Db.of` keeps the session's connection for one transaction; the next one may get another."""
    if transaction.parent is None:
        session.info.pop("ascn.db", None)


class Unit:
    """One transaction on one connection (see `Store.unit`)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.db = Db(connection.connection.driver_connection, connection.dialect.name)
        self.opened: Session | None = None

    @property
    def session(self) -> Session:
        """An ORM session that joins this unit's transaction (it never commits it itself)."""
        if self.opened is None:
            self.opened = Session(bind=self.connection, expire_on_commit=False)
            self.opened.info["ascn.db"] = self.db
        return self.opened


class Store(QueueStore):
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (a new database gets all of them)."""
        from .migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except exc.DBAPIError as error:
                session.rollback()
                if _is_contention(error):
                    raise Conflict("the database is busy with another change; try again") from None
                raise
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        """One unit of work on a plain connection: `unit.db` for the hot path, `unit.session` (the ORM,
        on the same connection and transaction) only if something needs it. Committed when the block
        ends, rolled back on any error. An ORM session costs ~70 µs per transaction; see
        docs/performance.md."""
        try:
            with self.engine.begin() as connection:
                unit = Unit(connection)
                try:
                    yield unit
                    if unit.opened is not None:
                        unit.opened.flush()
                finally:
                    if unit.opened is not None:
                        unit.opened.close()
        except exc.DBAPIError as error:
            if _is_contention(error):
                raise Conflict("the database is busy with another change; try again") from None
            raise

    # ------------------------------------------------------------------ network and cycles

    def load_network(self, session: Session, network: Network, cycle: int) -> int:
        """Insert member states and cities not yet stored; returns how many rows were added."""
        added = 0
        known_states = {r.code for r in session.exec(select(MemberStateRow))}
        known_cities = {r.slug for r in session.exec(select(CityRow))}
        for state in network.member_states.values():
            if state.code not in known_states:
                session.add(
                    MemberStateRow(code=state.code, name=state.name, zone=state.zone, capital=state.capital.slug)
                )
                added += 1
        session.flush()
        for city in network.cities:
            if city.slug not in known_cities:
                session.add(
                    CityRow(
                        slug=city.slug,
                        name=city.name,
                        member_state=city.member_state,
                        zone=city.zone,
                        capital=city.capital,
                    )
                )
                added += 1
        return added

    def join_city(self, session: Session, slug: str, name: str, member_state: str, zone: str, cycle: int) -> None:
        """An accepted nomination makes the city a member from `cycle` (adding it if it is new)."""
        city = session.get(CityRow, slug)
        if city is None:
            session.add(CityRow(slug=slug, name=name, member_state=member_state, zone=zone, joined_cycle=cycle))
        elif city.joined_cycle is None:
            city.joined_cycle = cycle

    def member_cities(self, session: Session, before: int | None = None) -> list[tuple[str, str]]:
        """(slug, member state) of the member cities, those that joined before `before` if given."""
        query = select(CityRow).where(CityRow.joined_cycle.is_not(None))  # type: ignore[union-attr]
        if before is not None:
            query = query.where(CityRow.joined_cycle < before)  # type: ignore[operator]
        return [(c.slug, c.member_state) for c in session.exec(query.order_by(CityRow.member_state, CityRow.slug))]

    def cities(self, session: Session) -> list[CityRow]:
        return list(session.exec(select(CityRow).order_by(CityRow.member_state, CityRow.slug)))

    def city(self, session: Session, slug: str) -> CityRow | None:
        return session.get(CityRow, slug)

    def current_cycle(self, session: Session, year: int) -> int | None:
        """The latest open cycle that has begun by `year`."""
        years = [c.year for c in session.exec(select(CycleRow)) if c.year <= year]
        return max(years) if years else None

    def record_cycle(self, session: Session, cycle: int, now: datetime) -> bool:
        if session.get(CycleRow, cycle) is not None:
            return False
        session.add(CycleRow(year=cycle, opened_at=now))
        return True

    def schema_state(self) -> tuple[str | None, str]:
        """(the database's migration, the code's newest migration)."""
        from .migrate import HEAD, current

        return current(self.engine), HEAD

    # ------------------------------------------------------------------ people

    def actor(self, session: Session, email: str) -> Actor | None:
        return Db.of(session).actor(email)

    def add_people(self, session: Session, entries: Iterable[PersonEntry]) -> int:
        """Add people and roles; a role already held is kept once. Returns the roles added."""
        added = 0
        for entry in entries:
            person = session.get(PersonRow, entry.email)
            if person is None:
                session.add(PersonRow(email=entry.email, name=entry.name))
            elif person.name != entry.name:
                person.name = entry.name
            session.flush()
            grant = entry.grant
            exists = session.exec(
                select(RoleRow).where(
                    RoleRow.email == entry.email,
                    RoleRow.role == grant.role,
                    RoleRow.member_state == (grant.member_state or ""),
                    RoleRow.city == (grant.city or ""),
                )
            ).first()
            if exists is None:
                session.add(
                    RoleRow(
                        email=entry.email, role=grant.role, member_state=grant.member_state or "", city=grant.city or ""
                    )
                )
                added += 1
        session.flush()
        return added

    def people(
        self, session: Session, role: str | None = None, member_state: str | None = None
    ) -> list[tuple[PersonRow, RoleRow]]:
        query = select(PersonRow, RoleRow).join(RoleRow, RoleRow.email == PersonRow.email)
        if role:
            query = query.where(RoleRow.role == role)
        if member_state:
            query = query.where(RoleRow.member_state == member_state.upper())
        query = query.order_by(RoleRow.role, RoleRow.member_state, RoleRow.city, PersonRow.email)
        return [(p, r) for p, r in session.exec(query)]

    # ------------------------------------------------------------------ deliverables

    def open(self, session: Session, openings: Sequence[Opening], now: datetime) -> list[str]:
        """Create the deliverables that do not exist yet (idempotent); returns the ids created."""
        ids = [o.id for o in openings]
        existing = set(session.exec(select(DeliverableRow.id).where(DeliverableRow.id.in_(ids)))) if ids else set()  # type: ignore[attr-defined]
        created = []
        for o in openings:
            if o.id in existing:
                continue
            session.add(
                DeliverableRow(
                    id=o.id,
                    cycle=o.cycle,
                    workflow=o.workflow,
                    member_state=o.member_state,
                    city=o.city,
                    stage=o.stage,
                    deadline=o.deadline,
                    data=dict(o.data or {}),
                    opened_at=now,
                    notice_due=o.deadline,
                )
            )
            created.append(o.id)
        session.flush()
        return created

    def row(self, session: Session, deliverable_id: str) -> DeliverableRow:
        row = session.get(DeliverableRow, deliverable_id.lower())
        if row is None:
            raise NotFound(f"no deliverable {deliverable_id!r}", deliverable=deliverable_id)
        return row

    def snapshot(self, session: Session, deliverable_id: str) -> Snapshot:
        return Db.of(session).deliverable(deliverable_id).snapshot()

    def stage_of(self, session: Session) -> Callable[[str], str | None]:
        return Db.of(session).stage

    def deliverables(
        self,
        session: Session,
        *,
        cycle: int | None = None,
        workflow: str | None = None,
        stage: str | None = None,
        member_state: str | None = None,
        overdue_at: datetime | None = None,
    ) -> list[Deliverable]:
        return Db.of(session).deliverables(
            cycle=cycle, workflow=workflow, stage=stage, member_state=member_state, overdue_at=overdue_at
        )

    def apply(self, session: Session, outcome: Outcome) -> HistoryEntry:
        """Write a transition and its history row (store/direct.py); Conflict if the deliverable moved meanwhile."""
        entry = Db.of(session).apply(outcome)
        session.expire_all()  # rows this session holds may have changed underneath it
        return entry
