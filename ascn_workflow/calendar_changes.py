"""The calendar moves: milestones in the database, `calendar set`, `extend` and `calendar history`.

A cycle's milestones are seeded from workflows/calendars/ when the cycle opens; from then on the
database is the truth (`overlay` lays the stored milestones over the files' for every command).
Moving a milestone, or extending one deliverable, is one transaction: the deadlines that follow it
move (each by a history row, `reschedule` or `extend`, in the deliverable's hash chain), their
reminders are planned again (`rescheduling.replan`), each person concerned gets one "date changed"
message through the outbox with the updated .ics (same UID, higher SEQUENCE), and the change itself
is appended to the calendar's own hash chain (`calendar_change`), which `audit verify` checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field
from msgspec.structs import asdict, replace

from . import reminding
from .dates import milestone_deadline, parse_day, show
from .engine import Event, Outcome, in_cycle
from .errors import BadInput, Denied, NotFound, Refused
from .names import check_text
from .planning import PlannedReminder, Recipient
from .rescheduling import Existing, ReminderPlan, moved, new_deadline, replan
from .spec import Calendar, Definitions, Milestone
from .store import CalendarChange, Deliverable, HistoryEntry, Message, MilestoneRecord, Transaction, after
from .stored_calendar import overlay
from .views import chairs_for, resolve_actor, zone_of

if TYPE_CHECKING:
    from .app import App

MOVERS = ("asec", "chair")  # who may move the calendar or extend a deadline (SPEC §9)


# ---------------------------------------------------------------------------- milestones as records


def records_of(calendar: Calendar) -> list[MilestoneRecord]:
    """A calendar file's milestones as the rows that seed the database."""
    return [
        MilestoneRecord(
            ref=f"{calendar.cycle}/{m.id}",
            cycle=calendar.cycle,
            milestone=m.id,
            title=m.title,
            first_day=m.start.isoformat(),
            last_day=m.end.isoformat(),
            zone=m.zone,
            same_as=m.same_as,
        )
        for m in calendar.milestones.values()
    ]


def seed(defs: Definitions, tx: Transaction, cycle: int) -> int:
    """Store a cycle's milestones from its calendar file (those stored already stay as they are)."""
    return tx.seed_milestones(records_of(defs.calendar(cycle)))


# ---------------------------------------------------------------------------- who may


def _mover_role(defs: Definitions, tx: Transaction, email: str | None, cycle: int, what: str) -> tuple[str, str]:
    actor = resolve_actor(tx, email)
    actor = in_cycle(defs, actor, cycle, chairs_for(defs, tx, actor, cycle))
    role = next((g.role for g in actor.grants if g.role in MOVERS), None)
    if role is None:
        raise Denied(f"{actor.email} may not {what}: needs role asec or the Chair of {cycle}", actor=actor.email)
    return actor.email, role


def _reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise BadInput("--reason TEXT is required: say why the date changes")
    return check_text(reason, "--reason")


# ---------------------------------------------------------------------------- moving one deadline


class Told(Struct):
    """One person's share of a change: every deadline of theirs it moved, for their one message."""

    recipient: Recipient
    moves: list[tuple[Deliverable, datetime | None]] = field(default_factory=list)  # (moved row, old deadline)


class Change(Struct):
    """What one calendar change or extension does, gathered as it is applied (or previewed)."""

    deliverables: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)
    already_sent: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    told: dict[str, Told] = field(default_factory=dict)


def _stage_entry(history: Sequence[HistoryEntry]) -> int:
    """The version at which the deliverable entered its current stage (a deadline move keeps the stage)."""
    entered = [h.seq for h in history if h.source != h.dest]
    return entered[-1] + 1 if entered else 1


def _move_deadline(
    app: App,
    tx: Transaction,
    row: Deliverable,
    deadline: datetime,
    event: Event,
    now: datetime,
    change: Change,
) -> Deliverable:
    """Give one deliverable a new deadline (and stage, for a lapsed one): its history row, its
    reminders planned again without sending one twice, and the people to tell."""
    defs = app.definitions
    config = app.config
    same_stage = event.source == event.dest
    existing = tx.reminders_since(row.id, _stage_entry(tx.history(row.id))) if same_stage else []
    outcome = Outcome(row.id, row.version, event, deadline, dict(row.data), ())
    tx.apply(outcome)
    moved_row = after(row, outcome)
    stage = defs.workflow(moved_row.workflow).stage(moved_row.stage)
    people = reminding.recipients(defs, tx, moved_row, stage.responsible)
    offsets = stage.reminder_offsets_days or config.reminder_offsets_days
    plan: ReminderPlan = replan(
        [Existing(r.recipient, r.offset_days, r.due_at, r.status) for r in existing if r.stage == moved_row.stage],
        people,
        offsets,
        config.reminder_local_hour,
        deadline,
        now,
    )
    tx.cancel_reminders(row.id, keep_version=moved_row.version)
    tx.keep_sent(moved_row, [r for r in existing if r.status == "sent" and r.stage == moved_row.stage])
    tx.add_reminders(moved_row, list(plan.planned))
    zone = zone_of(defs, moved_row)
    change.deliverables.append(
        {
            "id": row.id,
            "stage": moved_row.stage,
            "zone": zone,
            "from": show(row.deadline, zone),
            "to": show(deadline, zone),
            **({"from_stage": row.stage} if not same_stage else {}),
        }
    )
    change.cancelled += [_reminder(row.id, e.recipient, e.offset_days, e.due_at, people) for e in plan.cancelled]
    change.already_sent += [_reminder(row.id, e.recipient, e.offset_days, e.due_at, people) for e in plan.already_sent]
    change.planned += [_planned(row.id, p) for p in plan.planned]
    for person in people:
        change.told.setdefault(person.email, Told(person)).moves.append((moved_row, row.deadline))
    return moved_row


def _reminder(
    deliverable_id: str, email: str, offset: int, due_at: datetime, people: Sequence[Recipient]
) -> dict[str, Any]:
    zone = next((p.zone for p in people if p.email == email), "UTC")
    return {"deliverable_id": deliverable_id, "recipient": email, "offset_days": offset, "due_at": show(due_at, zone)}


def _planned(deliverable_id: str, p: PlannedReminder) -> dict[str, Any]:
    return {
        "deliverable_id": deliverable_id,
        "recipient": p.recipient.email,
        "offset_days": p.offset_days,
        "due_at": show(p.due_at, p.recipient.zone),
    }


# ---------------------------------------------------------------------------- calendar set


class _DryRun(Exception):
    """Rolls the transaction back after the change was worked out in full: --dry-run."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.result = result


def set_milestone(
    app: App,
    cycle: int,
    milestone_id: str,
    start_text: str,
    now: datetime,
    actor_email: str | None,
    *,
    end_text: str | None = None,
    zone: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Move (or fix) one milestone of a cycle; everything that follows it moves in the same transaction."""
    start = parse_day(start_text, "DATE")
    end = parse_day(end_text, "--end") if end_text is not None else None
    why = _reason(reason)
    try:
        with app.store.transaction() as tx:
            result = _set_milestone(app, tx, cycle, milestone_id, start, end, zone, why, now, actor_email)
            result["dry_run"] = dry_run
            if dry_run:
                raise _DryRun(result)
    except _DryRun as preview:
        return preview.result
    app.calendar_changed()
    return result


def _set_milestone(
    app: App,
    tx: Transaction,
    cycle: int,
    milestone_id: str,
    start: date,
    end: date | None,
    zone: str | None,
    reason: str,
    now: datetime,
    actor_email: str | None,
) -> dict[str, Any]:
    defs = app.definitions
    defs.calendar(cycle)
    email, role = _mover_role(defs, tx, actor_email, cycle, f"move the {cycle} calendar")
    seed(defs, tx, cycle)
    stored = {r.milestone: r for r in tx.milestones(cycle)}
    current = overlay(defs, stored.values()).calendar(cycle)
    record = stored.get(milestone_id)
    if record is None:
        raise NotFound(
            f"cycle {cycle} has no milestone {milestone_id!r} (its milestones: {', '.join(sorted(stored))})",
            milestone=milestone_id,
        )
    old = current.milestone(milestone_id)
    new = replace(moved(old, start, end, zone), same_as=None)
    if (new.start, new.end, new.zone) == (old.start, old.end, old.zone) and old.same_as is None:
        raise BadInput(f"{milestone_id} of {cycle} is already {_days(old)}: nothing to change")
    followers = [r.milestone for r in stored.values() if r.same_as == milestone_id]
    moved_record = replace(
        record,
        first_day=new.start.isoformat(),
        last_day=new.end.isoformat(),
        zone=new.zone,
        same_as=None,
        revision=record.revision + 1,
    )
    tx.move_milestone(moved_record)
    after_move = overlay(defs, [*[r for r in stored.values() if r.ref != record.ref], moved_record])
    calendar = after_move.calendar(cycle)
    deadlines = {
        mid: (milestone_deadline(current.milestone(mid)), milestone_deadline(calendar.milestone(mid)))
        for mid in [milestone_id, *followers]
    }
    change = Change()
    for row in tx.deliverables(cycle=cycle):
        stage = defs.workflow(row.workflow).stage(row.stage)
        if stage.deadline not in deadlines or row.deadline is None:
            continue
        before, later = deadlines[stage.deadline]
        if row.deadline != before:  # extended on its own: the extension stands
            change.kept.append({"id": row.id, "deadline": show(row.deadline, zone_of(defs, row))})
            continue
        data = {"milestone": stage.deadline, "from": show(before, "UTC"), "to": show(later, "UTC")}
        lapsed_from = _lapsed_from(defs, row, tx.history(row.id))
        returns = lapsed_from is not None and defs.workflow(row.workflow).stage(lapsed_from).deadline == stage.deadline
        # Its deadline ahead again: back to the stage it lapsed from, as `extend` does.
        dest = lapsed_from if later > now and returns and lapsed_from else row.stage
        event = Event("reschedule", row.stage, dest, email, role, now, now, reason, data, {})
        _move_deadline(app, tx, row, later, event, now, change)
        if later <= now and (lapsed_from is not None or row.notified_deadline == row.deadline):
            # Still past, and its notice went out for this stage entry: the move is no new lapse.
            tx.claim_notice(row.id, later)
    subject = f"{_title(new)} ({cycle}) moved to {_days(new)}"
    told = _queue_messages(app, tx, change, now, subject, reason, (cycle, new, moved_record.revision))
    entry = tx.add_calendar_change(
        CalendarChange(
            seq=0,
            cycle=cycle,
            kind="milestone",
            target=milestone_id,
            actor=email,
            role=role,
            recorded_at=now,
            reason=reason,
            old_value=_milestone_value(old),
            new_value=_milestone_value(new),
            deliverables=change.deliverables,
            told=told,
        )
    )
    return {
        "change": entry.seq,
        "cycle": cycle,
        "milestone": milestone_id,
        "title": new.title,
        "old": _milestone_value(old),
        "new": _milestone_value(new),
        "follows": followers,
        "reason": reason,
        "actor": email,
        "role": role,
        "deliverables": change.deliverables,
        "kept": change.kept,
        "reminders_cancelled": change.cancelled,
        "reminders_planned": change.planned,
        "reminders_already_sent": change.already_sent,
        "told": told,
    }


def _title(m: Milestone) -> str:
    return m.title or m.id


def _days(m: Milestone) -> str:
    return m.start.isoformat() if m.start == m.end else f"{m.start.isoformat()} to {m.end.isoformat()}"


def _milestone_value(m: Milestone) -> dict[str, Any]:
    return {"start": m.start.isoformat(), "end": m.end.isoformat(), "zone": m.zone, "same_as": m.same_as}


# ---------------------------------------------------------------------------- extend


def extend(
    app: App,
    deliverable_id: str,
    to_text: str,
    now: datetime,
    actor_email: str | None,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """Move one deliverable's deadline; a lapsed one returns to the stage it lapsed from."""
    why = _reason(reason)
    defs = app.definitions
    with app.store.transaction() as tx:
        row = tx.deliverable(deliverable_id)
        email, role = _mover_role(defs, tx, actor_email, row.cycle, f"extend {row.id}")
        target = _lapsed_from(defs, row, tx.history(row.id)) or row.stage
        if defs.workflow(row.workflow).stage(target).deadline is None:
            raise Refused(
                f"{row.id} is {row.stage}, a stage without a deadline, and did not lapse into it: nothing to extend",
                deliverable=row.id,
            )
        deadline = new_deadline(to_text, zone_of(defs, row))
        if deadline <= now:
            raise BadInput(f"--to {show(deadline, zone_of(defs, row))} is not in the future")
        if target == row.stage and deadline == row.deadline:
            raise BadInput(f"{row.id} is already due {show(deadline, zone_of(defs, row))}")
        data = {"from": show(row.deadline, "UTC"), "to": show(deadline, "UTC")}
        event = Event("extend", row.stage, target, email, role, now, now, why, data, {})
        change = Change()
        moved_row = _move_deadline(app, tx, row, deadline, event, now, change)
        told = _queue_messages(app, tx, change, now, f"{row.id} extended", why, None)
        entry = tx.add_calendar_change(
            CalendarChange(
                seq=0,
                cycle=row.cycle,
                kind="extension",
                target=row.id,
                actor=email,
                role=role,
                recorded_at=now,
                reason=why,
                old_value={"stage": row.stage, "deadline": show(row.deadline, "UTC")},
                new_value={"stage": moved_row.stage, "deadline": show(deadline, "UTC")},
                deliverables=change.deliverables,
                told=told,
            )
        )
    return {
        "change": entry.seq,
        "deliverable_id": row.id,
        "reason": why,
        "actor": email,
        "role": role,
        "from_stage": row.stage,
        "to_stage": moved_row.stage,
        "from": change.deliverables[0]["from"],
        "to": change.deliverables[0]["to"],
        "zone": change.deliverables[0]["zone"],
        "reminders_cancelled": change.cancelled,
        "reminders_planned": change.planned,
        "reminders_already_sent": change.already_sent,
        "told": told,
    }


def _lapsed_from(defs: Definitions, row: Deliverable, history: Sequence[HistoryEntry]) -> str | None:
    """The stage a lapsed deliverable left by its deadline transition (the lapse stays in the
    history); None when its current stage was not entered by a lapse."""
    workflow = defs.workflow(row.workflow)
    for entry in reversed(history):
        if entry.source == entry.dest:  # a deadline moved; the stage stayed
            continue
        if entry.dest == row.stage and workflow.stage(entry.source).deadline_trigger == entry.trigger:
            return entry.source
        return None
    return None


# ---------------------------------------------------------------------------- telling people


def _queue_messages(
    app: App,
    tx: Transaction,
    change: Change,
    now: datetime,
    subject: str,
    reason: str,
    milestone: tuple[int, Milestone, int] | None,
) -> list[str]:
    """One "date changed" message per person concerned, with every moved deadline of theirs."""
    from .mail.dates_changed import date_changed_message

    told = []
    for email, share in sorted(change.told.items()):
        rendered = date_changed_message(
            defs=app.definitions,
            sender=app.config.mail.sender,
            now=now,
            recipient=share.recipient,
            subject=subject,
            reason=reason,
            moves=share.moves,
            milestone=milestone,
        )
        tx.queue_message(
            Message(
                message_id=rendered.message_id,
                kind="date-changed",
                deliverable_id=share.moves[0][0].id,
                recipients=rendered.recipients,
                subject=rendered.subject,
                raw=rendered.raw,
                created_at=now,
                next_attempt_at=now,
            )
        )
        told.append(email)
    return told


# ---------------------------------------------------------------------------- history


def history(app: App, cycle: int | None = None) -> list[dict[str, Any]]:
    """Every calendar change and extension, oldest first: who, when, why, old and new. An unknown
    cycle is not found (exit 3), as for `calendar set`; a known one without changes is empty."""
    if cycle is not None:
        app.definitions.calendar(cycle)
    with app.store.read() as tx:
        changes = tx.calendar_changes(cycle)
    return [change_view(app.definitions, c) for c in changes]


def change_view(defs: Definitions, c: CalendarChange) -> dict[str, Any]:
    zone = defs.calendars[c.cycle].zone if c.cycle in defs.calendars else "UTC"
    return {
        "seq": c.seq,
        "cycle": c.cycle,
        "kind": c.kind,
        "target": c.target,
        "actor": c.actor,
        "role": c.role,
        "recorded_at": show(c.recorded_at, zone),
        "reason": c.reason,
        "old": c.old_value,
        "new": c.new_value,
        "deliverables": c.deliverables,
        "told": c.told,
    }


def touching(app: App, tx: Transaction, deliverable_id: str) -> list[dict[str, Any]]:
    """The calendar changes and extensions that moved this deliverable's deadline (for `ascn show`)."""
    mine = [c for c in tx.calendar_changes() if any(d.get("id") == deliverable_id for d in c.deliverables)]
    return [change_view(app.definitions, c) for c in mine]


def plain(record: CalendarChange) -> dict[str, Any]:
    return asdict(record)
