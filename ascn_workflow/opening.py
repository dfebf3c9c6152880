"""Which deliverables open when: a cycle, an accepted nomination, a later nomination, a project.

Each workflow's `opens` says when (see definitions.OPENS); this module turns that into the
deliverables to create, with their initial stage and its deadline in that cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from msgspec import Struct

from .engine import deliverable_id, stage_deadline
from .errors import Refused
from .spec import Definitions, Workflow

# The data a project is opened with (no history row sets them): `audit verify` takes them as given.
PROJECT_FIELDS = ("title", "focus", "funding", "proposed_by", "proposed_at")


class Opening(Struct, frozen=True):
    id: str
    cycle: int
    workflow: str
    stage: str
    deadline: datetime | None
    member_state: str | None = None
    city: str | None = None
    data: Mapping[str, Any] | None = None


def _open(
    defs: Definitions,
    cycle: int,
    wf: Workflow,
    subject: str | None = None,
    member_state: str | None = None,
    city: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Opening:
    return Opening(
        deliverable_id(cycle, wf.name, subject),
        cycle,
        wf.name,
        wf.initial,
        stage_deadline(defs, cycle, wf, wf.initial),
        member_state,
        city,
        data,
    )


def cycle_openings(defs: Definitions, cycle: int, member_cities: Iterable[tuple[str, str]] = ()) -> list[Opening]:
    """What opening `cycle` creates: network deliverables, the founding cycle's nominations, and a
    yearly deliverable per city that joined before a later cycle (`member_cities`: (slug, state))."""
    defs.calendar(cycle)
    founding = cycle == defs.founding_cycle
    kinds = ("every-cycle", "founding-cycle") if founding else ("every-cycle", "later-cycles")
    openings = [_open(defs, cycle, wf) for kind in kinds for wf in defs.workflows_opening(kind, "network")]
    if founding:
        for wf in defs.workflows_opening("founding-cycle", "member_state"):
            openings += [_open(defs, cycle, wf, code, code) for code in defs.network.in_cycle(cycle)]
    else:
        for wf in defs.workflows_opening("later-cycles", "city"):
            openings += [_open(defs, cycle, wf, slug, state, slug) for slug, state in member_cities]
    return openings


def city_openings(defs: Definitions, cycle: int, member_state: str, city_slugs: Iterable[str]) -> list[Opening]:
    """Every `on-joining` city workflow for each accepted city: the effect `open-city-deliverables`."""
    return [
        _open(defs, cycle, wf, slug, member_state, slug)
        for slug in city_slugs
        for wf in defs.workflows_opening("on-joining", "city")
    ]


def nomination_opening(defs: Definitions, cycle: int, member_state: str) -> Opening:
    """A later cycle's nomination (expansion), opened when the member state nominates: only by a
    member state that is in the network in that cycle (Timor-Leste from 2026)."""
    state = defs.network.member_state(member_state)
    if state.since is not None and cycle < state.since:
        raise Refused(
            f"{state.name} ({state.code}) is in the network from the {state.since} cycle, not in {cycle}",
            member_state=state.code,
        )
    return _open(defs, cycle, defs.workflow("nomination"), member_state, member_state)


def project_opening(
    defs: Definitions, cycle: int, member_state: str, city: str, number: int, data: Mapping[str, Any]
) -> Opening:
    return _open(defs, cycle, defs.workflow("project"), f"{city}/{number}", member_state, city, data)


def nominated_slugs(data: Mapping[str, Any]) -> list[str]:
    return [str(c["slug"]) for c in data.get("cities") or [] if isinstance(c, dict) and c.get("slug")]
