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
from .dates import show
from .definitions import Definitions, Workflow
from .engine import Request, Snapshot, fire, options, stage_deadline
from .errors import BadInput, Denied, NotFound
from .nominations import parse_nomination
from .opening import city_openings, cycle_openings, nominated_slugs, nomination_opening
from .people import Actor, Grant, PersonEntry, parse_people, person_entry
from .reminding import replan, replan_open
from .store.repository import Store, to_snapshot
from .store.tables import CycleRow, DeliverableRow, HistoryRow

# ---------------------------------------------------------------------------- helpers


def read_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{what} file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} file {path}: {exc}") from None


def resolve_actor(store: Store, session: Session, email: str | None) -> Actor:
    if not email:
        raise Denied("no actor: pass --actor EMAIL or set ASCN_ACTOR")
    actor = store.actor(session, email)
    if actor is None:
        raise Denied(f"unknown actor {email!r}: add them with `ascn people add`", actor=email)
    return actor


def zone_of(
    defs: Definitions, store: Store, session: Session, row: DeliverableRow, city_zones: Mapping[str, str] | None = None
) -> str:
    """The zone a deliverable's instants are shown in: its city's, its member state's, or the host's."""
    if row.city:
        if city_zones is not None and row.city in city_zones:
            return city_zones[row.city]
        city = store.city(session, row.city)
        if city is not None:
            return city.zone
    if row.member_state:
        return defs.network.member_state(row.member_state).zone
    return defs.calendar(row.cycle).zone if row.cycle in defs.calendars else "UTC"


def is_overdue(row: DeliverableRow, now: datetime) -> bool:
    return row.deadline is not None and row.deadline < now


def deliverable_view(
    app: App, session: Session, row: DeliverableRow, now: datetime, city_zones: Mapping[str, str] | None = None
) -> dict[str, Any]:
    defs = app.definitions
    zone = zone_of(defs, app.store, session, row, city_zones)
    return {
        "id": row.id,
        "cycle": row.cycle,
        "workflow": row.workflow,
        "title": defs.workflow(row.workflow).title,
        "member_state": row.member_state,
        "city": row.city,
        "stage": row.stage,
        "deadline": show(row.deadline, zone),
        "overdue": is_overdue(row, now),
        "version": row.version,
        "zone": zone,
        "last_event_at": show(row.last_event_at, zone),
    }


def history_view(rows: Sequence[HistoryRow], zone: str) -> list[dict[str, Any]]:
    return [
        {
            "seq": h.seq,
            "trigger": h.trigger,
            "from": h.source,
            "to": h.dest,
            "actor": h.actor,
            "role": h.role,
            "at": show(h.effective_at, zone),
            "recorded_at": show(h.recorded_at, zone),
            "note": h.note,
            "data": h.data,
            "waivers": h.waivers,
        }
        for h in rows
    ]


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


# ---------------------------------------------------------------------------- reading


def status(
    app: App,
    now: datetime,
    *,
    cycle: int | None = None,
    workflow: str | None = None,
    stage: str | None = None,
    member_state: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    defs = app.definitions
    if workflow:
        defs.workflow(workflow)
    if member_state:
        defs.network.member_state(member_state)
    store = app.store
    with store.session() as session:
        rows = store.deliverables(
            session,
            cycle=cycle,
            workflow=workflow,
            stage=stage,
            member_state=member_state,
            overdue_at=now if overdue else None,
        )
        city_zones = {c.slug: c.zone for c in store.cities(session)}  # one query, not one per row
        return [deliverable_view(app, session, row, now, city_zones) for row in rows]


def _options_view(
    app: App, session: Session, snap: Snapshot, actor: Actor | None, now: datetime, zone: str
) -> list[dict[str, Any]]:
    defs = app.definitions
    workflow = defs.workflow(snap.workflow)
    return [
        {
            "trigger": o.trigger,
            "to": o.dest,
            "roles": list(o.roles),
            "permitted": o.permitted,
            "ready": o.ready,
            "rules": [
                {"rule": name, "met": name not in o.failing_rules, "reason": o.failing_rules.get(name)}
                for name in workflow.transition(o.trigger, snap.stage).rules  # type: ignore[union-attr]
            ],
            "deadline_of_next_stage": show(stage_deadline(defs, snap.cycle, workflow, o.dest), zone),
        }
        for o in options(defs, snap, actor, now, app.store.stage_of(session), app.store.members_of(session))
    ]


def show_deliverable(app: App, deliverable_id: str, now: datetime, actor_email: str | None = None) -> dict[str, Any]:
    store = app.store
    with store.session() as session:
        row = store.row(session, deliverable_id)
        actor = resolve_actor(store, session, actor_email) if actor_email else None
        view = deliverable_view(app, session, row, now)
        snap = to_snapshot(row)
        view["data"] = snap.data
        view["next"] = _options_view(app, session, snap, actor, now, view["zone"])
        view["allowed_triggers"] = (
            [o["trigger"] for o in view["next"] if o["permitted"] and o["ready"]] if actor else None
        )
        view["history"] = history_view(store.history(session, row.id), view["zone"])
        view["reminders"] = [
            {
                "recipient": r.recipient,
                "offset_days": r.offset_days,
                "due_at": show(r.due_at, view["zone"]),
                "stage": r.stage,
                "status": r.status,
            }
            for r in store.reminders_for(session, row.id)
            if r.entry_version == row.version
        ]
    return view


def history(app: App, deliverable_id: str) -> list[dict[str, Any]]:
    store = app.store
    with store.session() as session:
        row = store.row(session, deliverable_id)
        zone = zone_of(app.definitions, store, session, row)
        return history_view(store.history(session, row.id), zone)


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
    """Fire one trigger: the stage change, its history row and its effects commit together or not at all."""
    defs = app.definitions
    store = app.store
    with store.session() as session:
        actor = resolve_actor(store, session, actor_email)
        snap = store.snapshot(session, deliverable_id)
        fields = dict(data or {})
        transition = defs.workflow(snap.workflow).transition(trigger, snap.stage)
        if transition is not None and "record-project-status" in transition.effects:
            fields["projects"] = _project_status(store, session, snap)
        request = Request(trigger, actor, now, at, note, fields, dict(waivers or {}))
        outcome = fire(defs, snap, request, store.stage_of(session), store.members_of(session))
        history_row = store.apply(session, outcome)
        opened = _apply_effects(defs, store, session, snap, outcome.effects, outcome.data, now)
        row = store.row(session, snap.id)
        for planned in [row, *(store.row(session, new_id) for new_id in opened)]:
            replan(app, session, planned, now)
        view = deliverable_view(app, session, row, now)
        view["event"] = history_view([history_row], view["zone"])[0]
        view["opened"] = opened
    return view


def _project_status(store: Store, session: Session, snap: Snapshot) -> list[dict[str, Any]]:
    """The city's projects with their stage, as a progress review records them."""
    rows = [r for r in store.deliverables(session, workflow="project") if r.city == snap.city]
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
    session: Session,
    snap: Snapshot,
    effects: Sequence[str],
    data: Mapping[str, Any],
    now: datetime,
) -> list[str]:
    opened: list[str] = []
    if "open-city-deliverables" in effects and snap.member_state:
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


# ---------------------------------------------------------------------------- the Framework


def framework(app: App, now: datetime, cycle: int | None = None) -> dict[str, Any]:
    """Where the ASEAN Smart Cities Framework stands: each stage reached, by whom, and what comes next."""
    defs = app.definitions
    year = cycle or app.config.cycle
    workflow = defs.workflow("framework")
    store = app.store
    with store.session() as session:
        row = store.row(session, f"{year}/framework")
        zone = zone_of(defs, store, session, row)
        events = store.history(session, row.id)
        snap = to_snapshot(row)
        path = _stage_path(workflow, events, row.stage, zone)
        following = []
        for option in options(defs, snap, None, now, store.stage_of(session)):
            transition = workflow.transition(option.trigger, snap.stage)
            assert transition is not None
            following.append(
                {
                    "trigger": option.trigger,
                    "to": option.dest,
                    "roles": list(option.roles),
                    "due_by": show(row.deadline, zone),  # the current stage's deadline, or none
                    "rules": [
                        {
                            "rule": name,
                            "met": name not in option.failing_rules,
                            "reason": option.failing_rules.get(name),
                        }
                        for name in transition.rules
                    ],
                }
            )
        return {
            "id": row.id,
            "title": workflow.title,
            "stage": row.stage,
            "deadline": show(row.deadline, zone),
            "overdue": is_overdue(row, now),
            "path": path,
            "next": following,
            "waivers": [{"trigger": e.trigger, **e.waivers} for e in events if e.waivers],
        }


def _stage_path(workflow: Workflow, events: Sequence[HistoryRow], current: str, zone: str) -> list[dict[str, Any]]:
    """Each stage in order with the last time it was entered, or not reached yet."""
    entered: dict[str, HistoryRow] = {}
    for e in events:
        entered[e.dest] = e
    current_index = workflow.stage_index(current)
    path = []
    for index, stage in enumerate(workflow.stages):
        e = entered.get(stage.name)
        reached = index <= current_index and (e is not None or stage.name == workflow.initial)
        path.append(
            {
                "stage": stage.name,
                "reached": reached,
                "current": stage.name == current,
                "at": show(e.effective_at, zone) if e and reached else None,
                "by": e.actor if e and reached else None,
                "role": e.role if e and reached else None,
            }
        )
    return path


def check_definitions(root: Path) -> list[str]:
    from .definitions import parse_all, read_tree

    if not root.is_dir():
        return [f"{root}: no such workflows folder"]
    _defs, problems = parse_all(read_tree(root))
    return problems
