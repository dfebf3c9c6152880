"""The cycles' calendars as the database holds them, laid over the files' (`App.definitions`).

Apart from calendar_changes.py, which moves them, so that every command reads the stored
milestones without importing what moving them needs (rescheduling, reminders, the outbox).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from msgspec.structs import replace

from .spec import Definitions, Milestone
from .store import MilestoneRecord


def overlay(defs: Definitions, records: Iterable[MilestoneRecord]) -> Definitions:
    """The definitions with each cycle's stored milestones in place of its file's: the database wins.
    A milestone that follows another (`same_as`) takes that one's last day, wherever it moved."""
    by_cycle: dict[int, list[MilestoneRecord]] = {}
    for record in records:
        by_cycle.setdefault(record.cycle, []).append(record)
    if not by_cycle:
        return defs
    calendars = dict(defs.calendars)
    for cycle, stored in by_cycle.items():
        base = calendars.get(cycle)
        if base is None:
            continue
        milestones = dict(base.milestones)
        for r in stored:
            milestones[r.milestone] = Milestone(
                r.milestone,
                r.title,
                date.fromisoformat(r.first_day),
                date.fromisoformat(r.last_day),
                r.zone,
                r.same_as,
                r.revision,
            )
        for r in stored:
            target = milestones.get(r.same_as) if r.same_as else None
            if target is not None:
                milestones[r.milestone] = Milestone(
                    r.milestone, r.title, target.end, target.end, target.zone, target.id, target.revision
                )
        calendars[cycle] = replace(base, milestones=milestones)
    return replace(defs, calendars=calendars)
