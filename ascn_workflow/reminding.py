"""Who is reminded, and when: recipients resolved in a deliverable's scope, reminders (re)planned.

Reminders are planned when a deliverable enters a stage with a deadline, and again when the
people directory changes (a focal point added in February still gets the 7- and 1-day reminders).
Planning is idempotent: one row per (stage entry, recipient, offset).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from .app import App
from .engine import in_cycle
from .people import Actor, Grant
from .planning import Recipient, plan_reminders
from .spec import NETWORK_ROLES, Definitions
from .store.tables import CityRow, DeliverableRow, PersonRow, RoleRow

ESCALATION_ROLES = ("asec", "chair")


def _recipient(defs: Definitions, cycle: int, person: PersonRow, grant: Grant, cities: dict[str, CityRow]) -> Recipient:
    """A CSCO in their city's zone; a member state's people in its capital's zone; network roles at the host."""
    calendar = defs.calendars.get(cycle)
    host = calendar.host if calendar else "SG"
    host_zone = calendar.zone if calendar else "UTC"
    if grant.role == "csco" and grant.city in cities:
        city = cities[grant.city]
        return Recipient(person.email, person.name, grant.role, city.zone, city.member_state)
    if grant.member_state and grant.member_state in defs.network.member_states:
        state = defs.network.member_states[grant.member_state]
        return Recipient(person.email, person.name, grant.role, state.zone, state.code)
    return Recipient(person.email, person.name, grant.role, host_zone, host)


def people_with_roles(
    session: Session, roles: Sequence[str], member_states: Sequence[str] = (), city: str | None = None
) -> list[tuple[PersonRow, RoleRow]]:
    """People holding `roles` who could cover a deliverable: network roles, the people of
    `member_states`, the CSCOs of `city`. The query follows the deliverable, not the size of the
    directory (indexes on person_role.member_state and .city, migration 0004)."""
    query = select(PersonRow, RoleRow).join(RoleRow, col(RoleRow.email) == col(PersonRow.email))
    query = query.where(col(RoleRow.role).in_(list(roles)))
    query = query.where(
        col(RoleRow.role).in_(sorted(NETWORK_ROLES))
        | ((col(RoleRow.role) != "csco") & col(RoleRow.member_state).in_(list(member_states)))
        | ((col(RoleRow.role) == "csco") & (col(RoleRow.city) == (city or "")))
    )
    return [(p, r) for p, r in session.exec(query.order_by(col(RoleRow.email)))]


def cities_by_slug(session: Session, slugs: Sequence[str] | None = None) -> dict[str, CityRow]:
    query = select(CityRow)
    if slugs is not None:
        query = query.where(col(CityRow.slug).in_(list(slugs)))
    return {c.slug: c for c in session.exec(query)}


def recipients(
    defs: Definitions,
    session: Session,
    row: DeliverableRow,
    roles: Sequence[str],
    cities: dict[str, CityRow] | None = None,
) -> list[Recipient]:
    """The people holding `roles` in the deliverable's cycle and scope, one entry per person.

    The Chair is resolved for the cycle: the chairing member state's NR, or an explicit chair grant.
    """
    wanted = set(roles) - {"scheduler"}
    load = wanted | ({"nr"} if "chair" in wanted else set())
    chair = defs.chair(row.cycle)
    states = [s for s in (row.member_state, chair) if s]
    if cities is None:
        cities = cities_by_slug(session, [row.city] if row.city else [])
    grants: dict[str, tuple[PersonRow, list[Grant]]] = {}
    for person, role in people_with_roles(session, sorted(load), states, row.city):
        grants.setdefault(person.email, (person, []))[1].append(
            Grant(role.role, role.member_state or None, role.city or None)
        )
    found: dict[str, Recipient] = {}
    for email, (person, held) in grants.items():
        for grant in in_cycle(defs, Actor(email, tuple(held)), row.cycle).grants:
            if grant.role in wanted and grant.covers(row.member_state, row.city):
                found.setdefault(email, _recipient(defs, row.cycle, person, grant, cities))
    return list(found.values())


def plans_reminders(defs: Definitions, row: DeliverableRow, now: datetime) -> bool:
    """Whether the deliverable's current stage has a deadline still ahead, so reminders to plan."""
    stage = defs.workflow(row.workflow).stage(row.stage)
    return row.deadline is not None and row.deadline > now and stage.deadline is not None


def replan(app: App, session: Session, row: DeliverableRow, now: datetime) -> int:
    """Cancel reminders of stages the deliverable has left; plan the current stage's. Returns how many were added."""
    store = app.store
    store.cancel_reminders(session, row.id, keep_version=row.version)
    defs = app.definitions
    if not plans_reminders(defs, row, now):
        return 0
    stage = defs.workflow(row.workflow).stage(row.stage)
    offsets = stage.reminder_offsets_days or app.config.reminder_offsets_days
    people = recipients(defs, session, row, stage.responsible)
    planned = [
        p for p in plan_reminders(row.deadline, people, offsets, app.config.reminder_local_hour) if p.due_at > now
    ]
    return store.add_reminders(session, row, planned)


def replan_open(app: App, session: Session, now: datetime) -> int:
    """After the directory changed: plan reminders for every deliverable whose deadline is still ahead."""
    rows = session.exec(select(DeliverableRow).where(col(DeliverableRow.deadline) > now)).all()
    return sum(replan(app, session, row, now) for row in rows)


def expected_actions(app: App, row: DeliverableRow, role: str | None, email: str) -> list[dict[str, Any]]:
    """What may move the deliverable on from its stage (for `role`, or for anyone), with the command."""
    workflow = app.definitions.workflow(row.workflow)
    actions = []
    for t in workflow.transitions_from(row.stage):
        if "scheduler" in t.roles and len(t.roles) == 1:
            continue
        if role is not None and role not in t.roles:
            continue
        if row.workflow == "nomination" and t.trigger == "submit" and row.member_state:
            command = f"ascn --actor {email} nominate {row.member_state} --file NOMINATION.toml"
        else:
            command = f"ascn --actor {email} advance {row.id} {t.trigger}"
        actions.append({"trigger": t.trigger, "to": t.dest, "roles": " or ".join(t.roles), "command": command})
    return actions
