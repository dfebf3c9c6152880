"""Bankable projects: cities with private-sector solution providers, funded by partners or banks.

The focus areas and the multilateral banks are the concept note's (para 5 and 6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .app import App
from .dates import show
from .engine import in_cycle
from .errors import BadInput, Conflict, Denied, NotFound, did_you_mean
from .names import check_name
from .opening import project_opening
from .outages import retrying
from .reminding import plan
from .views import chairs_for, resolve_actor

FOCUS_AREAS = ("transport", "water", "energy", "health care", "education", "public services", "data", "ICT")
BANKS = {
    "world bank": "World Bank/IFC",
    "ifc": "World Bank/IFC",
    "world bank/ifc": "World Bank/IFC",
    "adb": "ADB",
    "asian development bank": "ADB",
    "aiib": "AIIB",
    "asian infrastructure investment bank": "AIIB",
    "gih": "Global Infrastructure Hub",
    "global infrastructure hub": "Global Infrastructure Hub",
}
PROPOSERS = ("csco", "nr", "asec", "shepherd")


def _focus(value: str | None) -> str | None:
    if value is None:
        return None
    for area in FOCUS_AREAS:
        if value.strip().lower() == area.lower():
            return area
    raise BadInput(f"focus area {value!r} is not one of: {', '.join(FOCUS_AREAS)}")


def _funding(value: str | None) -> dict[str, str] | None:
    """A multilateral bank by name or abbreviation, or else an external partner (e.g. Japan)."""
    if value is None:
        return None
    name = check_name(value, "--funding")
    bank = BANKS.get(name.lower())
    return {"kind": "bank", "name": bank} if bank else {"kind": "external partner", "name": name}


def add_project(
    app: App,
    city: str,
    title: str,
    now: datetime,
    actor_email: str | None,
    *,
    focus: str | None = None,
    funding: str | None = None,
    cycle: int | None = None,
) -> dict[str, Any]:
    return retrying(lambda: _add_project(app, city, title, now, actor_email, focus, funding, cycle))


def _add_project(
    app: App,
    city: str,
    title: str,
    now: datetime,
    actor_email: str | None,
    focus: str | None,
    funding: str | None,
    cycle: int | None,
) -> dict[str, Any]:
    """One attempt: the number is the city's next in this transaction; a process that took it
    first makes the INSERT fail (or the opening find it taken), and `retrying` runs this again."""
    defs = app.definitions
    with app.store.transaction() as tx:
        year = cycle or tx.current_cycle(defs.cycle_of(now)) or app.config.cycle
        defs.calendar(year)
        row = tx.city(city.lower())
        if row is not None and row.joined_cycle is None:
            raise NotFound(
                f"{row.slug!r} is in the network's list but not yet a member city: its member state's "
                f"nomination must be accepted first (ascn show {year}/nomination/{row.member_state.lower()})",
                city=city,
            )
        if row is None:
            hint = did_you_mean(city, [c.slug for c in defs.network.cities])
            raise NotFound(f"{city!r} is not a member city{hint}", city=city)
        actor = resolve_actor(tx, actor_email)
        actor = in_cycle(defs, actor, year, chairs_for(defs, tx, actor, year))
        if not any(g.role in PROPOSERS and g.covers(row.member_state, row.slug) for g in actor.grants):
            raise Denied(
                f"{actor.email} may not propose projects for {row.slug}: needs csco of {row.slug}, "
                f"nr of {row.member_state}, asec or shepherd",
                actor=actor.email,
            )
        data = {
            "title": check_name(title, "--title"),
            "focus": _focus(focus),
            "funding": _funding(funding),
            "proposed_by": actor.email,
            "proposed_at": show(now, row.zone),
        }
        number = 1 + len(tx.deliverables(cycle=year, workflow="project", city=row.slug))
        opening = project_opening(defs, year, row.member_state, row.slug, number, data)
        if opening.id not in tx.open([opening], now):  # another process took this number first
            raise Conflict(f"{opening.id} was proposed at the same moment by another command")
        plan(defs, app.config, tx, tx.deliverable(opening.id), now)
    return {"id": opening.id, "city": row.slug, **data}


def list_projects(
    app: App, now: datetime, *, city: str | None = None, cycle: int | None = None
) -> list[dict[str, Any]]:
    with app.store.read() as tx:
        if city is not None and tx.city(city.lower()) is None:  # a typo is not found, as elsewhere, not "0 projects"
            hint = did_you_mean(city, [c.slug for c in app.definitions.network.cities])
            raise NotFound(f"{city!r} is not a city of the network{hint}", city=city)
        rows = tx.deliverables(cycle=cycle, workflow="project")
    return [
        {
            "id": r.id,
            "cycle": r.cycle,
            "city": r.city,
            "member_state": r.member_state,
            "stage": r.stage,
            "title": r.data.get("title"),
            "focus": r.data.get("focus"),
            "funding": r.data.get("funding"),
            "provider": r.data.get("provider"),
            "last_event_at": show(r.last_event_at),
        }
        for r in rows
        if city is None or r.city == city.lower()
    ]
