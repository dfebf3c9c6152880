"""Use cases: one function each, one transaction each, returning plain data the CLI renders.

Every function takes `now` from its caller; none reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from .app import App
from .engine import Request, Snapshot, fire
from .errors import BadInput, NotFound
from .nominations import parse_nomination
from .opening import city_openings, cycle_openings, nominated_slugs, nomination_opening
from .people import Grant, PersonEntry, parse_people, person_entry
from .reminding import plans_reminders, replan, replan_open
from .spec import Definitions
from .store.direct import Db
from .store.repository import Store, Unit
from .store.tables import CycleRow
from .views import deliverable_view, history_view, is_overdue, resolve_actor

# ---------------------------------------------------------------------------- helpers


def read_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{what} file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} file {path}: {exc}") from None


# ---------------------------------------------------------------------------- init and people


def init(app: App, cycle: int, now: datetime) -> dict[str, Any]:
    """Create (or upgrade) the schema, load the network, open the cycle's deliverables. Safe to run again."""
    defs = app.definitions
    defs.calendar(cycle)
    store = app.raw_store
    store.create_schema()
    with store.session() as session:
        added = store.load_network(session, defs.network, cycle)
    return {**open_cycle(app, cycle, now), "network_rows_added": added}


def open_cycle(app: App, cycle: int, now: datetime) -> dict[str, Any]:
    """Open a cycle's deliverables from its calendar (idempotent): network deliverables, the founding
    cycle's nominations, and each earlier member city's yearly progress review and twinning follow-up."""
    defs = app.definitions
    defs.calendar(cycle)
    store = app.store
    with store.session() as session:
        openings = cycle_openings(defs, cycle, store.member_cities(session, before=cycle))
        created = store.open(session, openings, now)
        new_cycle = store.record_cycle(session, cycle, now)
        for new_id in created:
            replan(app, session, store.row(session, new_id), now)
    return {"cycle": cycle, "chair": defs.chair(cycle), "opened": created, "new_cycle": new_cycle}


def cycles(app: App, now: datetime) -> list[dict[str, Any]]:
    """Every cycle with a calendar: its Chair, whether it is open, and how far along its deliverables are."""
    defs = app.definitions
    store = app.store
    with store.session() as session:
        opened = {c.year for c in session.exec(select(CycleRow))}
        rows = store.deliverables(session)
    result = []
    for year, calendar in sorted(defs.calendars.items()):
        mine = [r for r in rows if r.cycle == year]
        final = sum(not defs.workflow(r.workflow).transitions_from(r.stage) for r in mine)
        result.append(
            {
                "cycle": year,
                "chair": calendar.chair,
                "chair_name": defs.network.member_state(calendar.chair).name,
                "host": calendar.host,
                "state": "open" if year in opened else "not opened",
                "deliverables": len(mine),
                "finished": final,
                "overdue": sum(is_overdue(r, now) for r in mine),
            }
        )
    return result


def _check_city(store: Store, session: Session, entry: PersonEntry) -> PersonEntry:
    """A CSCO's city must be a member city; its member state comes from the stored network."""
    if entry.grant.role != "csco":
        return entry
    city = store.city(session, entry.grant.city or "")
    if city is None:
        raise NotFound(f"{entry.email}: no member city {entry.grant.city!r}", city=entry.grant.city)
    return PersonEntry(entry.email, entry.name, Grant("csco", city.member_state, city.slug))


def people_add(app: App, raw: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    entry = person_entry(dict(raw), app.definitions.network, "person")
    store = app.store
    with store.session() as session:
        entry = _check_city(store, session, entry)
        added = store.add_people(session, [entry])
        planned = replan_open(app, session, now) if added else 0
    return {"email": entry.email, "role": entry.grant.role, "added": added, "reminders_planned": planned}


def people_import(app: App, path: Path, now: datetime) -> dict[str, Any]:
    """All or nothing: every entry is checked, then all are written in one transaction."""
    entries = parse_people(read_file(path, "people"), app.definitions.network, str(path))
    return add_entries(app, entries, str(path), now)


def add_entries(app: App, entries: Sequence[PersonEntry], source: str, now: datetime) -> dict[str, Any]:
    store = app.store
    with store.session() as session:
        checked = [_check_city(store, session, e) for e in entries]
        added = store.add_people(session, checked)
        planned = replan_open(app, session, now) if added else 0
    return {"file": source, "entries": len(entries), "roles_added": added, "reminders_planned": planned}


def people_list(app: App, role: str | None = None, member_state: str | None = None) -> list[dict[str, Any]]:
    store = app.store
    with store.session() as session:
        rows = store.people(session, role, member_state)
    return [
        {
            "email": p.email,
            "name": p.name,
            "role": r.role,
            "member_state": r.member_state or None,
            "city": r.city or None,
        }
        for p, r in rows
    ]


# ---------------------------------------------------------------------------- acting


def advance(
    app: App,
    deliverable_id: str,
    trigger: str,
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    waivers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Fire one trigger: the stage change, its history row and its effects commit together or not at all.

    The hot path runs on plain DB-API statements (store/direct.py); the ORM joins the same
    transaction only for effects and reminder planning.
    """
    defs = app.definitions
    store = app.store
    with store.unit() as unit:
        db = unit.db
        actor = resolve_actor(db, actor_email)
        row = db.deliverable(deliverable_id)
        snap = row.snapshot()
        fields = dict(data or {})
        transition = defs.workflow(snap.workflow).transition(trigger, snap.stage)
        if transition is not None and "record-project-status" in transition.effects:
            fields["projects"] = _project_status(db, snap)
        request = Request(trigger, actor, now, at, note, fields, dict(waivers or {}))
        outcome = fire(defs, snap, request, db.stage, db.member_cities)
        entry = db.apply(outcome)
        row = row.after(outcome)
        opened = _apply_effects(defs, store, unit, snap, outcome.effects, outcome.data, now)
        if plans_reminders(defs, row, now):  # cancels those of the stage it left, plans the new stage's
            replan(app, unit.session, row, now)
        else:  # the same cancellation, without starting an ORM session
            db.cancel_reminders(row.id, keep_version=row.version)
        for new_id in opened:
            replan(app, unit.session, store.row(unit.session, new_id), now)
        view = deliverable_view(defs, row, now)
        view["event"] = history_view([entry], view["zone"])[0]
        view["opened"] = opened
    return view


def _project_status(db: Db, snap: Snapshot) -> list[dict[str, Any]]:
    """The city's projects with their stage, as a progress review records them."""
    rows = [r for r in db.deliverables(workflow="project") if r.city == snap.city]
    return [
        {
            "id": r.id,
            "title": r.data.get("title"),
            "stage": r.stage,
            "provider": r.data.get("provider"),
            "funding": r.data.get("funding"),
        }
        for r in rows
    ]


def _apply_effects(
    defs: Definitions,
    store: Store,
    unit: Unit,
    snap: Snapshot,
    effects: Sequence[str],
    data: Mapping[str, Any],
    now: datetime,
) -> list[str]:
    opened: list[str] = []
    if "open-city-deliverables" in effects and snap.member_state:
        session = unit.session
        _register_nomination(store, session, snap, data)
        opened = store.open(session, city_openings(defs, snap.cycle, snap.member_state, nominated_slugs(data)), now)
    return opened


def _register_nomination(store: Store, session: Session, snap: Snapshot, data: Mapping[str, Any]) -> None:
    """An accepted nomination adds its new cities and registers its NR and CSCOs with their roles."""
    code = snap.member_state
    assert code is not None
    for city in data.get("cities") or []:
        store.join_city(session, city["slug"], city["name"], code, city["zone"], snap.cycle)
    session.flush()
    entries = []
    nr = data.get("national_representative")
    if nr:
        entries.append(PersonEntry(nr["email"], nr["name"], Grant("nr", code)))
    for city in data.get("cities") or []:
        if city.get("csco"):
            entries.append(PersonEntry(city["csco"]["email"], city["csco"]["name"], Grant("csco", code, city["slug"])))
    store.add_people(session, entries)


def nominate(
    app: App,
    code: str,
    path: Path,
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    waivers: Mapping[str, str] | None = None,
    cycle: int | None = None,
) -> dict[str, Any]:
    """Record a member state's nomination file and fire its `submit` with the nomination as data."""
    nomination = parse_nomination(read_file(path, "nomination"), code, app.definitions.network, str(path))
    return submit_nomination(app, code, nomination, now, actor_email, at=at, waivers=waivers, cycle=cycle)


def submit_nomination(
    app: App,
    code: str,
    nomination: Mapping[str, Any],
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    waivers: Mapping[str, str] | None = None,
    cycle: int | None = None,
) -> dict[str, Any]:
    defs = app.definitions
    state = defs.network.member_state(code)
    year = cycle or app.config.cycle
    if year != defs.founding_cycle:  # expansion: a later cycle's nomination opens when a state nominates
        defs.calendar(year)
        if year < defs.founding_cycle:
            raise BadInput(f"cycle {year} is before the network's founding in {defs.founding_cycle}")
        store = app.store
        with store.session() as session:
            opened = store.open(session, [nomination_opening(defs, year, state.code)], now)
            for new_id in opened:
                replan(app, session, store.row(session, new_id), now)
    return advance(
        app,
        f"{year}/nomination/{state.code.lower()}",
        "submit",
        now,
        actor_email,
        at=at,
        data=nomination,
        waivers=waivers,
    )


def check_definitions(root: Path) -> list[str]:
    from .definitions import parse_all, read_tree

    if not root.is_dir():
        return [f"{root}: no such workflows folder"]
    _defs, problems = parse_all(read_tree(root))
    return problems
