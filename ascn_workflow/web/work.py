"""What a signed-in person sees: their work, and whether a deliverable is within their roles' scope.

The same engine answers as for the CLI: `engine.options` says what they may do now, the roles'
scope (`Grant.covers`) what they may see.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ..app import App
from ..dates import show
from ..engine import Option, chairs_needed, in_cycle, options
from ..errors import Denied
from ..people import Actor
from ..spec import Definitions
from ..store import Deliverable, Transaction
from ..views import chairs_for, deliverable_view, resolve_actor

WORK_LIMIT = 200  # ASEC is responsible for much of the network: the page shows the nearest deadlines first


def may_see(
    defs: Definitions,
    actor: Actor,
    cycle: int,
    member_state: str | None,
    city: str | None,
    chairs: Collection[str] = (),
) -> bool:
    """Within the scope of the person's roles *in that cycle* (`engine.in_cycle`, as acting is): the
    cycle's Chair (`engine.chair_seat`; `chairs` as `in_cycle` takes them) sees the network's
    deliverables of that cycle, and a `chair` grant of another year's Chair sees nothing of it."""
    return any(g.covers(member_state, city) for g in in_cycle(defs, actor, cycle, chairs).grants)


def chairs_seen(app: App, actor: Actor, cycle: int) -> frozenset[str]:
    """The directory's chair grants for a page's checks, read only when they can matter (as `views.chairs_for`)."""
    if not chairs_needed(app.definitions, actor, cycle):
        return frozenset()
    with app.store.transaction(write=False) as db:
        return db.chair_grants()


def check_may_see(defs: Definitions, actor: Actor, row: Deliverable, chairs: Collection[str] = ()) -> None:
    if not may_see(defs, actor, row.cycle, row.member_state, row.city, chairs):
        raise Denied(f"{actor.email} may not see {row.id}: it is outside their roles' scope", deliverable=row.id)


def check_may_see_view(defs: Definitions, actor: Actor, view: dict[str, Any], chairs: Collection[str] = ()) -> None:
    """The same check on a deliverable's view (`views.show_deliverable`), before it is rendered."""
    if not may_see(defs, actor, view["cycle"], view["member_state"], view["city"], chairs):
        raise Denied(
            f"{actor.email} may not see {view['id']}: it is outside their roles' scope", deliverable=view["id"]
        )


def _work_rows(app: App, db: Transaction, actor: Actor) -> list[Deliverable]:
    """The deliverables at a stage one of the person's roles is responsible for, within their scope."""
    defs = app.definitions
    roles = {g.role for g in actor.grants}
    if "nr" in roles:  # the chairing state's NR acts as Chair in that cycle (engine.in_cycle)
        roles.add("chair")
    stages = [
        (workflow.name, stage.name)
        for workflow in defs.workflows.values()
        for stage in workflow.stages
        if roles & set(stage.responsible) and workflow.transitions_from(stage.name)
    ]
    if any(g.covers(None, None) for g in actor.grants):  # a network role sees the whole network
        return db.deliverables_at(stages)
    if all(g.role == "csco" for g in actor.grants):
        return db.deliverables_at(stages, cities=sorted({g.city for g in actor.grants if g.city}))
    rows = db.deliverables_at(stages, member_states=sorted({g.member_state for g in actor.grants if g.member_state}))
    if "nr" in roles:  # as Chair in the cycles their state chairs: the network's deliverables (in_cycle decides)
        chairing = [(w, s) for w, s in stages if "chair" in defs.workflow(w).stage(s).responsible]
        rows += [r for r in db.deliverables_at(chairing) if r.member_state is None]
    return rows


def my_work(app: App, email: str, now: datetime, zone: str) -> dict[str, Any]:
    """The deliverables whose current stage this person is responsible for, within their scope, and what they may do now."""
    defs = app.definitions
    items: list[dict[str, Any]] = []
    with app.store.transaction(write=False) as db:
        actor = resolve_actor(db, email)
        for row in _work_rows(app, db, actor):
            workflow = defs.workflow(row.workflow)
            acting = in_cycle(defs, actor, row.cycle, chairs_for(defs, db, actor, row.cycle))
            responsible = workflow.stage(row.stage).responsible
            mine = any(g.role in responsible and g.covers(row.member_state, row.city) for g in acting.grants)
            if not mine:
                continue
            items.append({"row": row})
        items.sort(key=lambda i: (i["row"].deadline is None, i["row"].deadline or now, i["row"].id))
        total = len(items)
        shown = []
        for item in items[:WORK_LIMIT]:
            row = item["row"]
            chairs = chairs_for(defs, db, actor, row.cycle)
            opts = options(defs, row, actor, now, db.stage, db.member_cities, chairs=chairs)
            view = deliverable_view(defs, row, now)
            view["deadline_mine"] = show(row.deadline, zone)
            view["may_now"] = [o.trigger for o in opts if o.ready]
            view["blocked"] = [
                {"trigger": o.trigger, "rules": sorted(o.failing_rules)} for o in opts if o.permitted and not o.ready
            ]
            view["nominate_url"] = _nominate_url(row, opts)
            shown.append(view)
    return {"items": shown, "total": total, "limit": WORK_LIMIT}


def _nominate_url(row: Deliverable, opts: Sequence[Option]) -> str | None:
    """A nomination is submitted through its form, not a bare trigger: point there (as `ascn show`
    points to `ascn nominate`) while `submit` is the person's to fire."""
    if row.workflow != "nomination" or row.member_state is None:
        return None
    if not any(o.trigger == "submit" and o.permitted for o in opts):
        return None
    return f"/nominate/{row.member_state.lower()}"


def person_zone(app: App, actor: Actor) -> str:
    """A person's own zone: their city's, else their member state's, else the current cycle host's."""
    defs = app.definitions
    for grant in actor.grants:
        if grant.city:
            city = next((c for c in defs.network.cities if c.slug == grant.city), None)
            if city is not None:
                return city.zone
    for grant in actor.grants:
        if grant.member_state:
            return defs.network.member_state(grant.member_state).zone
    cycle = app.config.cycle
    return defs.calendar(cycle).zone if cycle in defs.calendars else "UTC"
