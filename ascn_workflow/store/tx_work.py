"""Deliverables, their transitions and history; the network, its cities and cycles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound, did_you_mean
from . import tables
from .dialect import DELIVERABLE_SELECT, columns, in_list, is_integrity
from .tables import (
    CITY,
    CYCLE,
    DELIVERABLE,
    HISTORY,
    MEMBER_STATE,
    City,
    Deliverable,
    HistoryEntry,
)
from .tx_base import Statements

if TYPE_CHECKING:
    from ..engine import Outcome
    from ..opening import Opening
    from ..spec import Network


def _audit() -> ModuleType:
    """audit.py (and hashlib), imported by the first write of a transition, not by the commands
    that only read; kept here, as an import statement at each `apply` cost ~0.7 µs (issue 15)."""
    global _audit_module
    if _audit_module is None:
        from .. import audit

        _audit_module = audit
    return _audit_module


_audit_module: ModuleType | None = None


def _kept(data: Mapping[str, Any], read: Mapping[str, Any]) -> bool:
    """Whether `data` holds exactly the values read, the same objects under the same keys in the
    same order (a transition given no data): its JSON is the text already stored. Equal is not
    enough (1 == 1.0 == True)."""
    return len(data) == len(read) and all(
        key == was and value is held for (key, value), (was, held) in zip(data.items(), read.items(), strict=True)
    )


_BY_ID = f"{DELIVERABLE_SELECT} WHERE d.id = ?"  # built once: every command that acts reads its deliverable so

_APPLY = {
    (notice, data): (
        f"UPDATE deliverable SET {'notice_due = ?, ' if notice else ''}stage = ?, deadline = ?, version = ?, "
        f"{'data = ?, ' if data else ''}last_event_at = ? WHERE id = ? AND version = ? "
        "RETURNING (SELECT hash FROM history WHERE deliverable_id = ? AND seq = ?)"
    )
    for notice in (True, False)
    for data in (True, False)
}  # Work.apply's statement, by (whether it sets notice_due, whether it sets data)


class Work(Statements):
    """Deliverables, their transitions and history; the network, its cities and cycles."""

    def deliverable(self, deliverable_id: str) -> Deliverable:
        found = self._records(DELIVERABLE, _BY_ID, (deliverable_id.lower(),))
        if not found:
            hint = did_you_mean(deliverable_id, [r[0] for r in self.rows("SELECT id FROM deliverable")])
            raise NotFound(f"no deliverable {deliverable_id!r}{hint}", deliverable=deliverable_id)
        return found[0]

    def deliverables_by_id(self, ids: Iterable[str]) -> dict[str, Deliverable]:
        """The deliverables of `ids` that exist, by id, in one query."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._records(DELIVERABLE, f"{DELIVERABLE_SELECT} WHERE d.id IN {in_list(wanted)}", wanted)
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
            where.append(f"d.member_state IN {in_list(member_states)}" if member_states else "1 = 0")
            params += [m.upper() for m in member_states]
        if cities is not None:
            where.append(f"d.city IN {in_list(cities)}" if cities else "1 = 0")
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
        existing = {r[0] for r in self.rows(f"SELECT id FROM deliverable WHERE id IN {in_list(ids)}", ids)}
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

    def apply(
        self, outcome: Outcome, channel: str = "cli", recorded_by: str | None = None, *, read: Deliverable | None = None
    ) -> HistoryEntry:
        """Write a transition and its history row; Conflict if the deliverable moved meanwhile.

        `channel` (cli or web) and `recorded_by` (the proven person who recorded it) are provenance,
        covered by the row's hash (audit.PROVENANCE).

        The conditional UPDATE comes first: it takes the deliverable's row, so no other writer can
        extend its hash chain until this transaction ends. The same statement returns the hash the
        chain ends with (the row of seq version - 1, written with the version it checked): one
        statement where there were two (issue 15).

        `read`, the row as this transaction read it, lets the UPDATE leave out what it would not
        change (issue 15): `data` if the transition keeps it, the very values read (only this
        method writes data, and always with a new version, so the version checked vouches for
        it), and `notice_due` if it stays empty (other writers only ever empty it). Each column
        left out spares encoding it, and `notice_due` its index: ~3 µs of an advance's ~40 µs of
        SQLite.
        """
        audit = _audit()
        ev = outcome.event
        d = self.dialect
        notice = tables.notice_due(outcome.deadline)
        set_notice = read is None or notice is not None or read.notice_due is not None
        set_data = read is None or not _kept(outcome.data, read.data)
        params: list[Any] = [d.instant(notice)] if set_notice else []
        params += [ev.dest, d.instant(outcome.deadline), outcome.version + 1]
        if set_data:
            params.append(d.json(dict(outcome.data)))
        params += [
            d.instant(ev.effective_at),
            outcome.deliverable_id,
            outcome.version,
            outcome.deliverable_id,
            outcome.version - 1,
        ]
        updated = self.execute(_APPLY[set_notice, set_data], params).fetchall()
        if len(updated) != 1:
            raise Conflict(
                f"{outcome.deliverable_id} changed while {ev.trigger} was being applied; "
                "look at it again (ascn show) and retry",
                deliverable=outcome.deliverable_id,
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
        assert tuple(fields) == audit.FIELDS
        fields["channel"] = channel
        fields["recorded_by"] = recorded_by
        prev_hash = updated[0][0] or ""  # NULL before the first transition
        entry = HistoryEntry(**fields, prev_hash=prev_hash, hash=audit.digest(fields, prev_hash))
        try:
            self._insert(HISTORY, [entry])
        except Exception as error:
            if is_integrity(error):
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
