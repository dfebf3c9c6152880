"""Who is reminded, and when: recipients resolved in a deliverable's scope, reminders planned.

Reminders are planned when a deliverable enters a stage with a deadline, and again when the
people directory changes (a focal point added in February still gets the 7- and 1-day reminders).
Planning is idempotent: one row per (stage entry, recipient, offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .config import Config
from .engine import in_cycle
from .people import Actor, Grant
from .planning import Recipient, plan_reminders
from .spec import NETWORK_ROLES, Definitions
from .store import Deliverable, Person, PersonRole, Transaction
from .views import command_for

ESCALATION_ROLES = ("asec", "chair")


def _recipient(defs: Definitions, row: Deliverable, person: Person, grant: Grant) -> Recipient:
    """A CSCO in their city's zone; a member state's people in its capital's zone; network roles at the host."""
    calendar = defs.calendars.get(row.cycle)
    host = calendar.host if calendar else "SG"
    host_zone = calendar.zone if calendar else "UTC"
    if grant.role == "csco" and grant.city == row.city and row.city_zone and row.member_state:
        return Recipient(person.email, person.name, grant.role, row.city_zone, row.member_state)
    if grant.member_state and grant.member_state in defs.network.member_states:
        state = defs.network.member_states[grant.member_state]
        return Recipient(person.email, person.name, grant.role, state.zone, state.code)
    return Recipient(person.email, person.name, grant.role, host_zone, host)


def recipients(defs: Definitions, tx: Transaction, row: Deliverable, roles: Sequence[str]) -> list[Recipient]:
    """The people holding `roles` in the deliverable's cycle and scope, one entry per person."""
    return recipients_among(defs, row, roles, people_for(defs, tx, [row], roles))


def people_for(
    defs: Definitions, tx: Transaction, rows: Sequence[Deliverable], roles: Iterable[str]
) -> list[tuple[Person, PersonRole]]:
    """In one query, everyone who may hold `roles` for any of `rows` (and the chairing states' NRs,
    who may be the Chair); `recipients_among` then picks each deliverable's own."""
    wanted = set(roles) - {"scheduler"}
    load = wanted | ({"nr"} if "chair" in wanted else set())
    states = {s for row in rows for s in (row.member_state, defs.chair(row.cycle)) if s}
    cities = {row.city for row in rows if row.city}
    return tx.people_in_scope(sorted(load), sorted(NETWORK_ROLES), sorted(states), sorted(cities))


class Scopes:
    """The people `people_for` read for a batch, indexed by the scope each grant covers (as
    `Grant.covers` decides), so that each deliverable's recipients are picked among the people of
    its own scope rather than among everyone the batch read: 50 deliverables a batch, each
    against the whole batch, made the pick quadratic."""

    def __init__(self, people: Sequence[tuple[Person, PersonRole]]) -> None:
        self._rows: dict[str, list[tuple[Person, PersonRole]]] = {}
        self._network: set[str] = set()
        self._states: dict[str, set[str]] = {}
        self._cities: dict[str, set[str]] = {}
        for person, role in people:
            email = person.email
            self._rows.setdefault(email, []).append((person, role))  # in the query's order
            if role.role in NETWORK_ROLES:
                self._network.add(email)
            elif role.role == "csco":
                self._cities.setdefault(role.city, set()).add(email)
            else:
                self._states.setdefault(role.member_state, set()).add(email)
        self._order = {email: n for n, email in enumerate(self._rows)}

    def of(self, defs: Definitions, row: Deliverable) -> list[tuple[Person, PersonRole]]:
        """Everyone who may cover `row` (the chairing state's people too), with all their grants."""
        emails = set(self._network)
        for state in (row.member_state, defs.chair(row.cycle)):
            emails |= self._states.get(state or "", set())
        emails |= self._cities.get(row.city or "", set())
        return [pair for email in sorted(emails, key=self._order.__getitem__) for pair in self._rows[email]]


def recipients_among(
    defs: Definitions, row: Deliverable, roles: Sequence[str], people: Iterable[tuple[Person, PersonRole]]
) -> list[Recipient]:
    """The people holding `roles` in the deliverable's cycle and scope, from `people` (which may
    hold others too, as `people_for` returns for a batch), one entry per person.

    The Chair is resolved for the cycle by `engine.chair_seat`, the rule permissions follow:
    whoever holds an explicit `chair` grant for the chairing member state, else that state's NR.
    """
    wanted = set(roles) - {"scheduler"}
    grants: dict[str, tuple[Person, list[Grant]]] = {}
    for person, role in people:
        grants.setdefault(person.email, (person, []))[1].append(
            Grant(role.role, role.member_state or None, role.city or None)
        )
    # One Chair per cycle, as for permissions (engine.chair_seat); with the Chair wanted, every chair grant is loaded.
    chairs = {g.member_state for _, held in grants.values() for g in held if g.role == "chair" and g.member_state}
    found: dict[str, Recipient] = {}
    for email, (person, held) in grants.items():
        for grant in in_cycle(defs, Actor(email, tuple(held)), row.cycle, chairs).grants:
            if grant.role in wanted and grant.covers(row.member_state, row.city):
                found.setdefault(email, _recipient(defs, row, person, grant))
    return list(found.values())


def reminders_ahead(defs: Definitions, row: Deliverable, now: datetime) -> bool:
    """Whether the deliverable's current stage has a deadline still ahead, so reminders to plan."""
    stage = defs.workflow(row.workflow).stage(row.stage)
    return row.deadline is not None and row.deadline > now and stage.deadline is not None


def plan(defs: Definitions, config: Config, tx: Transaction, row: Deliverable, now: datetime) -> int:
    """Plan the reminders of the deliverable's current stage entry (none if its deadline is not ahead).
    Returns how many were added; those planned already are kept once."""
    if not reminders_ahead(defs, row, now):
        return 0
    assert row.deadline is not None
    stage = defs.workflow(row.workflow).stage(row.stage)
    offsets = stage.reminder_offsets_days or config.reminder_offsets_days
    people = recipients(defs, tx, row, stage.responsible)
    planned = [p for p in plan_reminders(row.deadline, people, offsets, config.reminder_local_hour) if p.due_at > now]
    return tx.add_reminders(row, planned)


def replan(defs: Definitions, config: Config, tx: Transaction, row: Deliverable, now: datetime) -> int:
    """Cancel reminders of stages the deliverable has left; plan the current stage's."""
    tx.cancel_reminders(row.id, keep_version=row.version)
    return plan(defs, config, tx, row, now)


def replan_open(defs: Definitions, config: Config, tx: Transaction, now: datetime) -> int:
    """After the directory changed: plan reminders for every deliverable whose deadline is still ahead."""
    return sum(replan(defs, config, tx, row, now) for row in tx.deliverables(deadline_after=now))


def expected_actions(defs: Definitions, row: Deliverable, role: str | None, email: str) -> list[dict[str, Any]]:
    """What may move the deliverable on from its stage (for `role`, or for anyone), with the command."""
    workflow = defs.workflow(row.workflow)
    actions = []
    for t in workflow.transitions_from(row.stage):
        if "scheduler" in t.roles and len(t.roles) == 1:
            continue
        if role is not None and role not in t.roles:
            continue
        command = command_for(row.id, row.workflow, row.member_state, t.trigger, email)
        actions.append({"trigger": t.trigger, "to": t.dest, "roles": " or ".join(t.roles), "command": command})
    return actions
