"""Milestones, calendar changes, documents, and whole tables for export and import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from msgspec.structs import asdict, replace

from ..errors import BadInput, Conflict
from . import tables
from .dialect import R, columns, is_integrity
from .tables import (
    CALENDAR_CHANGE,
    DOCUMENT,
    MILESTONE,
    CalendarChange,
    DocumentVersion,
    MilestoneRecord,
    Table,
)
from .tx_base import Statements

if TYPE_CHECKING:
    pass


class Records(Statements):
    """Milestones, calendar changes, documents, and whole tables for export and import."""

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
            if is_integrity(error):
                raise Conflict("the calendar changed meanwhile; look again (ascn calendar history) and retry") from None
            raise
        return entry

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
