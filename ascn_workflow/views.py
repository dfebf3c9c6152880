"""Where things stand: the read use cases (`status`, `show`, `history`, `framework`) as plain data.

They read in one snapshot of the store (`Store.read`), which never loads SQLAlchemy
(docs/performance.md). `advance` builds its answer with the same views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .app import App
from .dates import show
from .engine import chairs_needed, options, stage_deadline
from .errors import Denied, NotFound, did_you_mean
from .people import Actor
from .spec import Definitions, Workflow
from .store import Deliverable, DocumentVersion, HistoryEntry, Transaction


def resolve_actor(tx: Transaction, email: str | None) -> Actor:
    if not email:
        raise Denied("no actor: pass --actor EMAIL or set ASCN_ACTOR")
    actor = tx.actor(email)
    if actor is None:
        raise Denied(
            f"unknown actor {email!r}: `ascn people list` shows who is in the directory (add someone with `ascn people add`)",
            actor=email,
        )
    return actor


def chairs_for(defs: Definitions, tx: Transaction, actor: Actor, cycle: int) -> frozenset[str]:
    """The directory's explicit chair grants for `engine.in_cycle`, read only when they can matter."""
    return tx.chair_grants() if chairs_needed(defs, actor, cycle) else frozenset()


def zone_of(defs: Definitions, row: Deliverable) -> str:
    """The zone a deliverable's instants are shown in: its city's, its member state's, or the host's."""
    if row.city and row.city_zone:
        return row.city_zone
    if row.member_state:
        return defs.network.member_state(row.member_state).zone
    return defs.calendar(row.cycle).zone if row.cycle in defs.calendars else "UTC"


def is_overdue(row: Deliverable, now: datetime) -> bool:
    return row.deadline is not None and row.deadline < now


def deliverable_view(defs: Definitions, row: Deliverable, now: datetime) -> dict[str, Any]:
    zone = zone_of(defs, row)
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


def history_view(rows: Sequence[HistoryEntry], zone: str) -> list[dict[str, Any]]:
    return [
        {
            "deliverable_id": h.deliverable_id,
            "seq": h.seq,
            "trigger": h.trigger,
            "from_stage": h.source,
            "to_stage": h.dest,
            "actor": h.actor,
            "role": h.role,
            "effective_at": show(h.effective_at, zone),
            "recorded_at": show(h.recorded_at, zone),
            "note": h.note,
            "data": h.data,
            "waivers": h.waivers,
            "channel": h.channel,
            "recorded_by": h.recorded_by,
        }
        for h in rows
    ]


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
    if stage:
        _known_stage(defs, workflow, stage)
    if cycle is not None and cycle not in defs.calendars:
        defs.calendar(cycle)  # not found, naming the cycles there are
    with app.store.read() as tx:
        rows = tx.deliverables(
            cycle=cycle,
            workflow=workflow,
            stage=stage,
            member_state=member_state,
            overdue_at=now if overdue else None,
        )
    return [deliverable_view(defs, row, now) for row in rows]


def _known_stage(defs: Definitions, workflow: str | None, stage: str) -> None:
    """A `--state` filter names a stage of the workflow (or of any workflow), else it is not found."""
    workflows = [defs.workflow(workflow)] if workflow else list(defs.workflows.values())
    names = {s.name for w in workflows for s in w.stages}
    if stage not in names:
        where = f"workflow {workflow!r} has no stage" if workflow else "no workflow has a stage"
        raise NotFound(f"{where} {stage!r}{did_you_mean(stage, names)}", stage=stage)


def _options_view(
    defs: Definitions, tx: Transaction, snap: Deliverable, actor: Actor | None, now: datetime, zone: str
) -> list[dict[str, Any]]:
    workflow = defs.workflow(snap.workflow)
    return [
        {
            "trigger": o.trigger,
            "to_stage": o.dest,
            "roles": list(o.roles),
            "permitted": o.permitted,
            "ready": o.ready,
            "rules": [
                {"rule": name, "met": name not in o.failing_rules, "reason": o.failing_rules.get(name)}
                for name in workflow.transition(o.trigger, snap.stage).rules  # type: ignore[union-attr]
            ],
            "deadline_of_next_stage": show(stage_deadline(defs, snap.cycle, workflow, o.dest), zone),
        }
        for o in options(
            defs,
            snap,
            actor,
            now,
            tx.stage,
            tx.member_cities,
            chairs=chairs_for(defs, tx, actor, snap.cycle) if actor else (),
            gathered=preview_data(defs, tx, snap),
        )
    ]


def preview_data(defs: Definitions, tx: Transaction, snap: Deliverable) -> dict[str, Mapping[str, Any]] | None:
    """`effects.gathered` for `engine.options`, when a trigger from this stage has an effect (the
    effects module is loaded only then: `show` of most deliverables never needs it)."""
    workflow = defs.workflow(snap.workflow)
    if not any(workflow.transition(t, snap.stage).effects for t in workflow.triggers_from(snap.stage)):  # type: ignore[union-attr]
        return None
    from .effects import gathered

    return gathered(defs, tx, snap)


def _judged_on_a_file(workflow: str, trigger: str) -> bool:
    return workflow == "nomination" and trigger == "submit"


def command_for(deliverable_id: str, workflow: str, member_state: str | None, trigger: str, email: str) -> str:
    """The command that fires `trigger` (a nomination is submitted with its file, by `nominate`)."""
    if _judged_on_a_file(workflow, trigger) and member_state:
        return f"ascn --actor {email} nominate {member_state} --file NOMINATION.toml"
    return f"ascn --actor {email} advance {deliverable_id} {trigger}"


def show_deliverable(app: App, deliverable_id: str, now: datetime, actor_email: str | None = None) -> dict[str, Any]:
    with app.store.read() as tx:
        defs = app.definitions_in(tx)
        row = tx.deliverable(deliverable_id)
        actor = resolve_actor(tx, actor_email) if actor_email else None
        view = deliverable_view(defs, row, now)
        snap = row
        view["data"] = snap.data
        view["next"] = _options_view(defs, tx, snap, actor, now, view["zone"])
        view["allowed_triggers"] = (
            [o["trigger"] for o in view["next"] if o["permitted"] and o["ready"]] if actor else None
        )
        # What is the actor's to run now: a nomination's `submit` is judged on the file given to
        # `ascn nominate`, so it is theirs to run even while its rules fail on the empty record.
        view["you_may"] = (
            [
                {
                    "trigger": o["trigger"],
                    "command": command_for(row.id, row.workflow, row.member_state, o["trigger"], actor.email),
                }
                for o in view["next"]
                if o["permitted"] and (o["ready"] or _judged_on_a_file(row.workflow, o["trigger"]))
            ]
            if actor
            else None
        )
        view["history"] = history_view(tx.history(row.id), view["zone"])
        view["reminders"] = [
            {
                "recipient": r.recipient,
                "offset_days": r.offset_days,
                "due_at": show(r.due_at, view["zone"]),
                "stage": r.stage,
                "status": r.status,
            }
            for r in tx.reminders(row.id, row.version)
        ]
    return view


def history(app: App, deliverable_id: str) -> list[dict[str, Any]]:
    with app.store.read() as tx:
        row = tx.deliverable(deliverable_id)
        return history_view(tx.history(row.id), zone_of(app.definitions, row))


def framework(app: App, now: datetime, cycle: int | None = None) -> dict[str, Any]:
    """Where the ASEAN Smart Cities Framework stands: each stage reached, by whom, and what comes next."""
    defs = app.definitions
    year = cycle or app.config.cycle
    workflow = defs.workflow("framework")
    with app.store.read() as tx:
        row = tx.deliverable(f"{year}/framework")
        zone = zone_of(defs, row)
        events = tx.history(row.id)
        versions = tx.documents(row.id)
        path = _stage_path(workflow, events, row.stage, zone)
        following = []
        for option in options(defs, row, None, now, tx.stage, gathered=preview_data(defs, tx, row)):
            transition = workflow.transition(option.trigger, row.stage)
            assert transition is not None
            following.append(
                {
                    "trigger": option.trigger,
                    "to_stage": option.dest,
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
        **_provenance(defs, year, events, versions, zone),
    }


MEETINGS = {"endorse": "annual-meeting", "jcm_endorse": "jcm", "adopt": "summit"}


def _provenance(
    defs: Definitions, year: int, events: Sequence[HistoryEntry], versions: Sequence[DocumentVersion], zone: str
) -> dict[str, Any]:
    """Which version of the Framework each body endorsed, at which meeting, on which day; and the
    later versions no body has endorsed yet."""
    from .documents import provenance

    endorsements, unendorsed = provenance(events, versions, zone)
    calendar = defs.calendars.get(year)
    for e in endorsements:
        meeting = calendar.milestones.get(MEETINGS[e["trigger"]]) if calendar else None
        e["meeting"] = meeting.title if meeting else None
        e["meeting_days"] = [meeting.start.isoformat(), meeting.end.isoformat()] if meeting else None
    return {
        "documents": [
            {"version": i, "sha256": v.sha256, "title": v.title, "added_at": show(v.added_at, zone)}
            for i, v in enumerate(versions, start=1)
        ],
        "endorsements": endorsements,
        "unendorsed_versions": unendorsed,
    }


def _stage_path(workflow: Workflow, events: Sequence[HistoryEntry], current: str, zone: str) -> list[dict[str, Any]]:
    """Each stage in order with the last time it was entered, or not reached yet."""
    entered: dict[str, HistoryEntry] = {}
    for e in events:
        if e.source != e.dest:  # a moved deadline (`reschedule`, `extend`) keeps the stage it was entered at
            entered[e.dest] = e
    current_index = workflow.stage_index(current)
    path = []
    for index, stage in enumerate(workflow.stages):
        last = entered.get(stage.name)
        reached = index <= current_index and (last is not None or stage.name == workflow.initial)
        path.append(
            {
                "stage": stage.name,
                "reached": reached,
                "current": stage.name == current,
                "at": show(last.effective_at, zone) if last and reached else None,
                "by": last.actor if last and reached else None,
                "role": last.role if last and reached else None,
            }
        )
    return path
