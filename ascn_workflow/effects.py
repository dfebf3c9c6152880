"""Effects: what a transition does besides changing the stage, keyed by the names the definitions use.

A workflow's transition lists its effects by name (`effects = ["open-city-deliverables"]`), as it
lists its rules; `EFFECTS` holds the code for each name (a test checks the two lists agree). An
effect may `gather` data the event records (before the trigger fires, so the rules see it), and
may `follow` the stage change inside the same transaction, returning the deliverables it opened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from msgspec import Struct

from .documents import record_document_version
from .opening import city_openings, nominated_slugs
from .people import Grant, PersonEntry
from .spec import Definitions
from .store import Deliverable, Transaction

Gather = Callable[[Transaction, Deliverable, Mapping[str, Any]], Mapping[str, Any]]  # (tx, row, the request's data)
Follow = Callable[[Definitions, Transaction, Deliverable, Mapping[str, Any], datetime], list[str]]


class Effect(Struct, frozen=True):
    gather: Gather | None = None
    follow: Follow | None = None
    directory: bool = False  # it changes the directory: the advance takes the directory's turn first


def record_project_status(tx: Transaction, row: Deliverable, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """A progress review records the city's projects with their stage."""
    if row.city is None:
        return {"projects": []}
    projects = tx.deliverables(workflow="project", city=row.city)
    return {
        "projects": [
            {
                "id": p.id,
                "title": p.data.get("title"),
                "stage": p.stage,
                "provider": p.data.get("provider"),
                "funding": p.data.get("funding"),
            }
            for p in projects
        ]
    }


def open_city_deliverables(
    defs: Definitions, tx: Transaction, row: Deliverable, data: Mapping[str, Any], now: datetime
) -> list[str]:
    """An accepted nomination adds its new cities, registers its NR and CSCOs with their roles, and
    opens the new member cities' deliverables of the cycle."""
    code = row.member_state
    if not code:
        return []
    for city in data.get("cities") or []:
        tx.join_city(city["slug"], city["name"], code, city["zone"], row.cycle)
    entries = []
    nr = data.get("national_representative")
    if nr:
        entries.append(PersonEntry(nr["email"], nr["name"], Grant("nr", code)))
    for city in data.get("cities") or []:
        if city.get("csco"):
            entries.append(PersonEntry(city["csco"]["email"], city["csco"]["name"], Grant("csco", code, city["slug"])))
    tx.add_people(entries, f"acceptance of {row.id}", now)
    return tx.open(city_openings(defs, row.cycle, code, nominated_slugs(data)), now)


EFFECTS: dict[str, Effect] = {
    "record-project-status": Effect(gather=record_project_status),
    "open-city-deliverables": Effect(follow=open_city_deliverables, directory=True),
    "record-document-version": Effect(gather=record_document_version),
}


def gathered(defs: Definitions, tx: Transaction, row: Deliverable) -> dict[str, Mapping[str, Any]]:
    """What each trigger from the row's stage would gather if it fired now with no data given, as
    `services.advance` gathers before firing: what `engine.options` needs to preview the rules as
    firing will judge them (an endorsement's `document-attached` sees the latest version)."""
    workflow = defs.workflow(row.workflow)
    result: dict[str, Mapping[str, Any]] = {}
    for trigger in workflow.triggers_from(row.stage):
        transition = workflow.transition(trigger, row.stage)
        assert transition is not None
        fields: dict[str, Any] = {}
        for name in transition.effects:
            gather = EFFECTS[name].gather
            if gather is not None:
                fields.update(gather(tx, row, fields))
        if fields:
            result[trigger] = fields
    return result
