"""Firing triggers: permissions, rules, waivers and the stage change, as a pure function.

`fire` takes a deliverable as read, a request and a view of the world, and returns an
`Outcome` (the new stage, its deadline, the history entry, the effects) or raises. It reads no
clock and touches no database: the service layer reads the deliverable and stores the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from msgspec import Struct, field

from .dates import milestone_deadline, utc
from .deliverable import Deliverable
from .errors import BadInput, Denied, Refused
from .people import Actor, Grant
from .rules import KINDS, RuleContext
from .spec import Definitions, Transition, Workflow

WAIVING_ROLES = ("chair", "shepherd")


def deliverable_id(cycle: int, workflow: str, subject: str | None = None) -> str:
    return f"{cycle}/{workflow}/{subject}".lower() if subject else f"{cycle}/{workflow}".lower()


class Request(Struct, frozen=True):
    trigger: str
    actor: Actor
    now: datetime
    at: datetime | None = None
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    waivers: Mapping[str, str] = field(default_factory=dict)  # rule name -> reason


class Event(Struct, frozen=True):
    """One history entry: the audit trail's unit."""

    trigger: str
    source: str
    dest: str
    actor: str
    role: str
    effective_at: datetime
    recorded_at: datetime
    note: str | None
    data: Mapping[str, Any]
    waivers: Mapping[str, str]


class Outcome(Struct, frozen=True):
    deliverable_id: str
    version: int
    event: Event
    deadline: datetime | None
    data: Mapping[str, Any]
    effects: tuple[str, ...]


class Option(Struct, frozen=True):
    """A trigger from the current stage, as seen by one actor at one instant."""

    trigger: str
    dest: str
    roles: tuple[str, ...]
    permitted: bool
    failing_rules: Mapping[str, str]

    @property
    def ready(self) -> bool:
        return self.permitted and not self.failing_rules


StageOf = Callable[[str], "str | None"]
Members = Callable[[str], "tuple[str, ...]"]  # a member state's member cities (slugs), before this transition


def chair_seat(defs: Definitions, cycle: int, chairs: Collection[str]) -> Grant | None:
    """The grant that makes its holder the Chair of `cycle`, or None if no member state chairs it.

    One rule for permissions (`in_cycle`) and mail (`reminding.recipients`): whoever holds an
    explicit `chair` grant for the chairing member state, else that state's NR. `chairs` are the
    member states the directory grants `chair` for (`Transaction.chair_grants`), passed in as data.
    """
    state = defs.chair(cycle)
    if state is None:
        return None
    return Grant("chair", state) if state in chairs else Grant("nr", state)


def chairs_needed(defs: Definitions, actor: Actor, cycle: int) -> bool:
    """Whether `in_cycle` needs the directory's `chairs` for this actor: only the chairing state's NR
    depends on them (an explicit Chair counts their own grant), so the store is asked only then."""
    state = defs.chair(cycle)
    return state is not None and any(g.role == "nr" and g.member_state == state for g in actor.grants)


_CYCLE_ROLES = frozenset({"chair", "shepherd", "nr"})  # the roles whose grants `in_cycle` may change


def in_cycle(defs: Definitions, actor: Actor, cycle: int, chairs: Collection[str] = ()) -> Actor:
    """The actor's grants in one cycle: the Chair is who `chair_seat` names, with the `chair` role.

    A `chair` grant counts only for the cycles its member state chairs; an NR of the chairing
    member state acts as Chair in that cycle unless someone holds an explicit `chair` grant for
    it (`chairs`: the member states with one). Likewise a `shepherd` grant of a member state
    counts only in the cycles that state shepherds the network (Singapore, then Indonesia); a
    shepherd grant without a member state counts in every cycle.
    """
    if len(actor.grants) == 1 and actor.grants[0].role not in _CYCLE_ROLES:
        return actor  # most people hold one grant, which counts in every cycle as it is (issue 15)
    own = {g.member_state for g in actor.grants if g.role == "chair" and g.member_state}
    seat = chair_seat(defs, cycle, {*chairs, *own})
    seat_key = (seat.role, seat.member_state) if seat is not None else None
    shepherd = defs.shepherd(cycle)
    grants: list[Grant] = []
    for grant in actor.grants:
        if grant.role == "shepherd" and grant.member_state is not None and grant.member_state != shepherd:
            continue
        if grant.role != "chair":
            grants.append(grant)
        if (grant.role, grant.member_state) == seat_key:
            grants.append(Grant("chair", grant.member_state))
    return Actor(actor.email, tuple(dict.fromkeys(grants)))


def transition_of(workflow: Workflow, trigger: str, stage: str) -> Transition | None:
    """`workflow.transition(trigger, stage)`, looked up in an index built once per workflow spec
    (every advance asks twice: for its effects and to fire; issue 15)."""
    found = _transition_index.get(workflow.name)
    if found is None or found[0] is not workflow:
        index: dict[tuple[str, str], Transition] = {}
        for t in workflow.transitions:
            for source in t.sources:
                index.setdefault((t.trigger, source), t)  # the first declared, as `Workflow.transition`
        found = _transition_index[workflow.name] = (workflow, index)
    return found[1].get((trigger, stage))


_transition_index: dict[str, tuple[Workflow, dict[tuple[str, str], Transition]]] = {}  # by workflow name


def stage_deadline(defs: Definitions, cycle: int, workflow: Workflow, stage: str) -> datetime | None:
    """The deadline of a stage in a cycle: the end of its milestone, or None if it has none."""
    milestone = workflow.stage(stage).deadline
    if milestone is None:
        return None
    return milestone_deadline(defs.calendar(cycle).milestone(milestone))


def acting_role(actor: Actor, transition: Transition, snap: Deliverable) -> str | None:
    """The role under which `actor` may fire `transition` on this deliverable, if any."""
    for grant in actor.grants:
        if grant.role in transition.roles and grant.covers(snap.member_state, snap.city):
            return grant.role
    return None


def failing_rules(
    defs: Definitions,
    transition: Transition,
    snap: Deliverable,
    data: Mapping[str, Any],
    at: datetime,
    stage_of: StageOf,
    members: Members | None = None,
) -> dict[str, str]:
    """Every rule of the transition that does not hold, with its reason."""
    if not transition.rules:
        return {}
    member_state = snap.member_state

    def existing() -> tuple[str, ...]:
        return tuple(members(member_state)) if members is not None and member_state else ()

    ctx = RuleContext(
        snap.cycle,
        snap.member_state,
        data,
        at,
        defs.calendar(snap.cycle),
        defs.network,
        defs.workflows,
        stage_of,
        existing,
    )
    failing = {}
    for name in transition.rules:
        spec = defs.rules[name]
        reason = KINDS[spec.kind].fn(ctx, spec.params)
        if reason is not None:
            failing[name] = reason
    return failing


def options(
    defs: Definitions,
    snap: Deliverable,
    actor: Actor | None,
    at: datetime,
    stage_of: StageOf,
    members: Members | None = None,
    *,
    chairs: Collection[str] = (),
    gathered: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Option]:
    """What may happen next: one function for `show`, error messages, `framework` and reminders.
    `chairs`: the member states with an explicit `chair` grant (`in_cycle`); `gathered`: the data
    each trigger's effects would gather if it fired now (`effects.gathered`), so that the rules
    are judged here as `fire` will judge them."""
    workflow = defs.workflow(snap.workflow)
    actor = in_cycle(defs, actor, snap.cycle, chairs) if actor is not None else None
    result = []
    for trigger in workflow.triggers_from(snap.stage):
        transition = workflow.transition(trigger, snap.stage)
        assert transition is not None
        permitted = actor is not None and acting_role(actor, transition, snap) is not None
        data = {**snap.data, **gathered[trigger]} if gathered and trigger in gathered else snap.data
        failing = failing_rules(defs, transition, snap, data, at, stage_of, members)
        result.append(Option(trigger, transition.dest, transition.roles, permitted, failing))
    return result


def _allowed_text(workflow: Workflow, stage: str) -> str:
    triggers = workflow.triggers_from(stage)
    return ", ".join(triggers) if triggers else "none (final stage)"


def fire(
    defs: Definitions,
    snap: Deliverable,
    req: Request,
    stage_of: StageOf,
    members: Members | None = None,
    *,
    chairs: Collection[str] = (),
) -> Outcome:
    """Decide one transition. Raises BadInput, Refused or Denied; never changes anything.
    `chairs`: the member states with an explicit `chair` grant (`in_cycle`; the scheduler needs none)."""
    workflow = defs.workflow(snap.workflow)
    actor = in_cycle(defs, req.actor, snap.cycle, chairs)
    at = _effective_instant(snap, req)
    transition = transition_of(workflow, req.trigger, snap.stage)
    if transition is None:
        known = "" if req.trigger in workflow.triggers else f" ({workflow.name} has no trigger {req.trigger!r})"
        raise Refused(
            f"{snap.id}: {req.trigger} is not allowed from stage {snap.stage}{known}; "
            f"allowed: {_allowed_text(workflow, snap.stage)}",
            deliverable=snap.id,
            trigger=req.trigger,
            stage=snap.stage,
            allowed=list(workflow.triggers_from(snap.stage)),
        )
    role = _permitted_role(req, actor, transition, snap)
    _check_request_fields(transition, snap, req)
    data = {**snap.data, **req.data}
    for key in transition.clears_data:
        data.pop(key, None)
    failing = failing_rules(defs, transition, snap, data, at, stage_of, members)
    unwaived = {name: reason for name, reason in failing.items() if name not in req.waivers}
    if unwaived:
        name, reason = next(iter(unwaived.items()))
        others = [n for n in unwaived if n != name]
        also = f" (also not met: {', '.join(others)})" if others else ""
        raise Refused(
            f"{snap.id}: {req.trigger} refused by rule {name}: {reason}{also}; "
            f"the Chair or the shepherd may waive it with --waive {name} --reason TEXT",
            deliverable=snap.id,
            trigger=req.trigger,
            rule=name,
            reason=reason,
            rules=list(unwaived),
            allowed=list(workflow.triggers_from(snap.stage)),
        )
    dest = _machine().next_stage(workflow, snap.stage, req.trigger)
    assert dest == transition.dest, "definitions and machine disagree"
    event = Event(
        req.trigger,
        snap.stage,
        dest,
        actor.email,
        role,
        at,
        req.now,
        req.note,
        dict(req.data),
        {name: req.waivers[name] for name in transition.rules if name in req.waivers},
    )
    deadline = stage_deadline(defs, snap.cycle, workflow, dest)
    return Outcome(snap.id, snap.version, event, deadline, data, transition.effects)


def _machine() -> ModuleType:
    """machine.py, imported by the first firing: transitions is loaded by the commands that fire,
    not by `show` (an import statement in `fire` cost ~0.7 µs of every advance)."""
    global _machine_module
    if _machine_module is None:
        from . import machine

        _machine_module = machine
    return _machine_module


_machine_module: ModuleType | None = None


def _effective_instant(snap: Deliverable, req: Request) -> datetime:
    """When the event happened: `--at` (not in the future, not before the last event) or now.

    Refusals show instants in the offset the user typed, so they read back what was written.
    """
    at = req.at or req.now
    offset = at.tzinfo

    def typed(moment: datetime) -> str:
        return moment.astimezone(offset).isoformat(timespec="seconds")

    def what() -> str:  # worded only for a refusal
        return f"--at {typed(at)}" if req.at is not None else f"now ({typed(at)})"

    if at > req.now:
        raise BadInput(f"{what()} is in the future (now is {typed(req.now)})", deliverable=snap.id)
    if snap.last_event_at is not None and at < snap.last_event_at:
        raise BadInput(
            f"{what()} is before the last event of {snap.id} ({typed(snap.last_event_at)})",
            deliverable=snap.id,
        )
    return utc(at)


def _permitted_role(req: Request, actor: Actor, transition: Transition, snap: Deliverable) -> str:
    """Role and scope first; a waiver needs the Chair or the shepherd, who then acts for the owner.
    `actor`: the request's actor with their grants in the deliverable's cycle (`in_cycle`)."""
    if req.waivers:
        waiver_role = next((g.role for g in actor.grants if g.role in WAIVING_ROLES), None)
        if waiver_role is None:
            raise Denied(
                f"{actor.email} may not waive rules: only the Chair or the shepherd may",
                deliverable=snap.id,
                actor=actor.email,
            )
        unknown = [name for name in req.waivers if name not in transition.rules]
        if unknown:
            raise BadInput(
                f"{snap.id}: {req.trigger} has no rule {unknown[0]!r} to waive "
                f"(its rules: {', '.join(transition.rules) or 'none'})",
                deliverable=snap.id,
                rule=unknown[0],
            )
        return acting_role(actor, transition, snap) or waiver_role
    role = acting_role(actor, transition, snap)
    if role is None:
        raise Denied(
            f"{actor.email} may not {req.trigger} {snap.id}: needs role "
            f"{' or '.join(_scoped(r, snap) for r in transition.roles)}",
            deliverable=snap.id,
            actor=actor.email,
            trigger=req.trigger,
        )
    return role


def _scoped(role: str, snap: Deliverable) -> str:
    """A role as the deliverable needs it: `nr of TH`, `csco of bangkok`, or a network role as is."""
    if role == "csco" and snap.city:
        return f"csco of {snap.city}"
    if role in ("nr", "focal_point") and snap.member_state:
        return f"{role} of {snap.member_state}"
    return role


def _check_request_fields(transition: Transition, snap: Deliverable, req: Request) -> None:
    if transition.note_required and not (req.note and req.note.strip()):
        raise BadInput(f"{snap.id}: {req.trigger} needs --note TEXT saying why", deliverable=snap.id)
    missing = [key for key in transition.required_data if not str(req.data.get(key, "")).strip()]
    if missing:
        raise BadInput(
            f"{snap.id}: {req.trigger} needs --data {missing[0]}=VALUE", deliverable=snap.id, field=missing[0]
        )
