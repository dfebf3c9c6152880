"""Which deliverables a cycle opens, and which an accepted nomination opens for its cities."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .definitions import Definitions
from .engine import deliverable_id, stage_deadline


@dataclass(frozen=True)
class Opening:
    id: str
    cycle: int
    workflow: str
    stage: str
    deadline: datetime | None
    member_state: str | None = None
    city: str | None = None


def cycle_openings(defs: Definitions, cycle: int) -> list[Opening]:
    """Network deliverables and one per member state: what `ascn init --cycle` opens."""
    defs.calendar(cycle)
    openings = []
    for wf in defs.workflows_for("network"):
        openings.append(
            Opening(
                deliverable_id(cycle, wf.name), cycle, wf.name, wf.initial, stage_deadline(defs, cycle, wf, wf.initial)
            )
        )
    for wf in defs.workflows_for("member_state"):
        for code in defs.network.member_states:
            openings.append(
                Opening(
                    deliverable_id(cycle, wf.name, code),
                    cycle,
                    wf.name,
                    wf.initial,
                    stage_deadline(defs, cycle, wf, wf.initial),
                    member_state=code,
                )
            )
    return openings


def city_openings(defs: Definitions, cycle: int, member_state: str, city_slugs: Iterable[str]) -> list[Opening]:
    """Every city workflow for each accepted city: the effect `open-city-deliverables`."""
    return [
        Opening(
            deliverable_id(cycle, wf.name, slug),
            cycle,
            wf.name,
            wf.initial,
            stage_deadline(defs, cycle, wf, wf.initial),
            member_state=member_state,
            city=slug,
        )
        for slug in city_slugs
        for wf in defs.workflows_for("city")
    ]


def nominated_slugs(data: Mapping[str, Any]) -> list[str]:
    return [str(c["slug"]) for c in data.get("cities") or [] if isinstance(c, dict) and c.get("slug")]
