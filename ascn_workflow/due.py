"""One pass of due work at `now`: deadline transitions, overdue notices, reminders, then the outbox.

`ascn tick` runs one pass; `ascn scheduler` runs passes on time. Each unit of work is claimed in
the transaction that records it (`Transaction.claim_*` in store/tx_mail.py), so passes can overlap or
repeat safely.
Messages are queued in that same transaction and delivered afterwards: a crash between the two
leaves the message queued, and an SMTP outage only delays it.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field, structs

from .app import App
from .dates import show
from .engine import Request, fire
from .errors import Conflict
from .mail import Mailer, MailError
from .mail.render import Rendered, overdue_message, reminder_message
from .outages import database_failure
from .people import SCHEDULER
from .planning import Recipient
from .reminding import (
    ESCALATION_ROLES,
    Scopes,
    expected_actions,
    people_for,
    recipients,
    recipients_among,
    replan,
)
from .spec import Stage
from .store import Deliverable, Delivered, Message, Reminder, Transaction, after

if TYPE_CHECKING:
    from concurrent.futures import Executor

log = logging.getLogger("ascn.due")


class DueReport(Struct):
    lapsed: list[str] = field(default_factory=list)
    overdue_notices: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    skipped_reminders: int = 0
    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deferred: int = 0  # messages left queued because the pass's sending budget was spent

    def as_dict(self) -> dict[str, Any]:
        return structs.asdict(self)

    @property
    def idle(self) -> bool:
        return not any(self.as_dict().values())


def trigger_stages(app: App) -> list[tuple[str, str]]:
    return [(w.name, s.name) for w in app.definitions.workflows.values() for s in w.stages if s.deadline_trigger]


def run_due_work(app: App, now: datetime, mailer: Mailer | None = None) -> DueReport:
    """Deadlines first, then overdue notices, then reminders, then the outbox is delivered."""
    report = DueReport()
    apply_deadlines(app, now, report)
    notify_overdue(app, now, report)
    send_reminders(app, now, report)
    if deliver(app, now, mailer or app.mailer, report):
        with app.store.read() as tx:
            report.deferred = tx.count_sendable(now)
        budget = app.config.mail.pass_budget_seconds
        log.warning("sending budget of %ss spent: %s messages wait for the next pass", budget, report.deferred)
    return report


def _message_id(kind: str, *parts: object) -> str:
    """Deterministic, so a resend after a crash carries the same Message-ID and is recognisable."""
    token = ".".join(re.sub(r"[^A-Za-z0-9.-]+", "=", str(p).replace("/", ".")) for p in parts)
    return f"<{kind}.{token}@ascn-workflow>"


def _view(app: App, row: Deliverable) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": app.definitions.workflow(row.workflow).title,
        "stage": row.stage,
        "cycle": row.cycle,
        "version": row.version,  # the .ics SEQUENCE (calendar_feed.event_identity)
        "link": f"{app.config.web.base_url}/deliverables/{row.id}",  # the portal's page (SPEC §8); never acts by itself
    }


def _host_zone(app: App, cycle: int) -> str:
    calendar = app.definitions.calendars.get(cycle)
    return calendar.zone if calendar else "UTC"


# ---------------------------------------------------------------------------- deadlines


def apply_deadlines(app: App, now: datetime, report: DueReport) -> None:
    """Fire each passed deadline's transition as `scheduler`, effective at the deadline itself."""
    store, defs = app.store, app.definitions
    with store.read() as tx:
        rows = tx.past_deadline(now, trigger_stages(app))
    for row in rows:
        deadline = row.deadline
        assert deadline is not None
        trigger = defs.workflow(row.workflow).stage(row.stage).deadline_trigger
        assert trigger is not None
        at = max(deadline, row.last_event_at) if row.last_event_at else deadline
        try:
            with store.transaction() as tx:
                outcome = fire(defs, row, Request(trigger, SCHEDULER, now, at=at), tx.stage)
                tx.apply(outcome, "scheduler")
                moved = after(row, outcome)
                replan(defs, app.config, tx, moved, now)
                _queue_overdue(app, tx, moved, deadline, now, lapsed=True, report=report, deadline_stage=row.stage)
        except Conflict:
            log.debug("%s moved meanwhile; its deadline is another process's to apply", row.id)
            continue
        except Exception as error:  # one deliverable's problem: the others' deadlines still pass
            _item_failed(error, f"{row.id}: deadline not applied", report)
            continue
        report.lapsed.append(f"{row.id}: {row.stage} -> {outcome.event.dest} at {show(at, _host_zone(app, row.cycle))}")
        log.debug("deadline passed: %s", report.lapsed[-1])


def notify_overdue(app: App, now: datetime, report: DueReport) -> None:
    """Deliverables past a deadline that moves nothing are flagged by one overdue notice each."""
    store = app.store
    with store.read() as tx:
        rows = tx.notice_owed(now, trigger_stages(app))
    for row in rows:
        assert row.deadline is not None
        try:
            with store.transaction() as tx:
                _queue_overdue(app, tx, row, row.deadline, now, lapsed=False, report=report, deadline_stage=row.stage)
        except Exception as error:
            _item_failed(error, f"{row.id}: overdue notice not queued", report)


def _item_failed(error: Exception, what: str, report: DueReport) -> None:
    """One unit of due work failed for a reason of its own: reported and logged, the pass goes on.
    A database failure is the whole pass's: it propagates (the scheduler retries the pass)."""
    if database_failure(error) is not None:
        raise error
    report.failed.append(f"{what}: {type(error).__name__}: {error}")
    log.warning("%s", report.failed[-1])


def _queue_overdue(
    app: App,
    tx: Transaction,
    row: Deliverable,
    deadline: datetime,
    now: datetime,
    *,
    lapsed: bool,
    report: DueReport,
    deadline_stage: str,
) -> None:
    """`deadline_stage` is the one whose deadline passed (a lapse has already left it)."""
    defs = app.definitions
    if not tx.claim_notice(row.id, deadline):
        return
    stage = defs.workflow(row.workflow).stage(row.stage)
    responsible = recipients(defs, tx, row, stage.responsible)
    escalation = [r for r in recipients(defs, tx, row, ESCALATION_ROLES) if r not in responsible]
    message_id = _message_id("overdue", row.id, int(deadline.timestamp()))
    to = [r.email for r in (*responsible, *escalation)]
    with _isolated(tx, message_id, "overdue", row.id, to, now, report) as held:
        rendered = overdue_message(
            message_id=message_id,
            sender=app.config.mail.sender,
            now=now,
            deliverable=_view(app, row),
            deadline=deadline,
            deadline_stage=deadline_stage,
            host_zone=_host_zone(app, row.cycle),
            responsible=responsible,
            escalation=escalation,
            expected=expected_actions(defs, row, None, "YOU@example"),
            lapsed=lapsed,
        )
        if rendered.recipients:
            _queue(tx, rendered, "overdue", row.id, now)
    report.overdue_notices.append(row.id)
    if not held.failed:
        log.debug("overdue notice for %s to %s", row.id, ", ".join(rendered.recipients) or "nobody")


# ---------------------------------------------------------------------------- reminders


BATCH = 50  # reminder messages claimed and queued per transaction


def send_reminders(app: App, now: datetime, report: DueReport) -> None:
    """Reminders due now, one message per deliverable and recipient; none for a deadline already past.

    `BATCH` groups at a time: their deliverables and recipients are read (two queries), their
    messages rendered with no lock held, then the groups are claimed and their messages queued in
    one transaction: in two statements when no other pass claimed any of them first, else each
    group in a savepoint of its own, so that a group another pass claimed first, or one that fails
    for a reason of its own, is undone alone (its rendering is dropped).
    Nothing is sent here, so a crash mid-batch only leaves the batch's reminders planned for the
    next pass.
    """
    store = app.store
    with store.read() as tx:
        due = tx.due_reminders(now)
    groups: dict[tuple[str, str], list[Reminder]] = defaultdict(list)
    for reminder in due:
        groups[(reminder.deliverable_id, reminder.recipient)].append(reminder)
    batches = list(groups.items())
    for start in range(0, len(batches), BATCH):
        with store.read() as tx:
            batch = _Batch(app, tx, batches[start : start + BATCH])
        drafts: list[tuple[tuple[str, str], list[Reminder], _Draft]] = []
        for (deliverable, recipient), reminders in batch.groups:
            try:
                drafts.append(((deliverable, recipient), reminders, _draft(app, batch, reminders, now)))
            except Exception as error:
                _item_failed(error, f"{deliverable} -> {recipient}: reminder not queued", report)
        done, skipped = _claim_batch(app, drafts, now, report)
        report.skipped_reminders += skipped
        for deliverable, recipient, reminders in done:
            report.reminders.append(f"{deliverable} -> {recipient}")
            log.debug("reminder %s -> %s (%s days)", deliverable, recipient, min(r.offset_days for r in reminders))


Drafts = list[tuple[tuple[str, str], list[Reminder], "_Draft"]]
Claimed = list[tuple[str, str, list[Reminder]]]


def _claim_batch(app: App, drafts: Drafts, now: datetime, report: DueReport) -> tuple[Claimed, int]:
    """Claim a batch's groups and queue their messages in one transaction: all of them in two
    statements when no other pass claimed any of them first (the usual case), else group by group."""
    try:
        with app.store.transaction() as tx:
            failed = _claim_all(tx, drafts, now)
    except _Lost:
        return _claim_each(app, drafts, now, report)
    except Exception as error:
        if database_failure(error) is not None:
            raise
        return _claim_each(app, drafts, now, report)  # each group's own failure, isolated below
    for message, reason in failed:
        report.failed.append(f"{message.message_id}: {reason}")
        log.warning("%s for %s not sent: %s", message.kind, message.deliverable_id, reason)
    done = [(deliverable, recipient, reminders) for (deliverable, recipient), reminders, d in drafts if not d.late]
    return done, sum(len(reminders) for _, reminders, d in drafts if d.late)


def _claim_all(tx: Transaction, drafts: Drafts, now: datetime) -> list[tuple[Message, str]]:
    """Every group claimed in one statement and every message queued in another; raises _Lost
    (the caller's transaction is rolled back) if any reminder was claimed by another pass first.
    Returns the messages stored as failed (not renderable), with why."""
    claims: list[tuple[list[int], str, str | None]] = []
    messages: list[Message] = []
    failed: list[tuple[Message, str]] = []
    for _, reminders, draft in drafts:
        ids = [r.id for r in reminders if r.id is not None]
        claims.append((ids, "skipped", None) if draft.late else (ids, "sent", draft.message_id))
        if draft.late or draft.person is None:
            continue
        if draft.failure is not None:
            message = _failed_message(
                draft.message_id, "reminder", draft.deliverable_id, [draft.person.email], now, draft.failure
            )
            messages.append(message)
            failed.append((message, draft.failure))
        elif draft.rendered is not None:
            messages.append(_message(draft.rendered, "reminder", draft.deliverable_id, now))
    if not tx.claim_reminder_groups(claims):
        raise _Lost
    tx.queue_messages(messages)
    return failed


def _claim_each(app: App, drafts: Drafts, now: datetime, report: DueReport) -> tuple[Claimed, int]:
    """Each group in a savepoint of its own: one another pass claimed first, or one that fails
    for a reason of its own, is undone alone (its rendering is dropped)."""
    done: Claimed = []
    skipped = 0
    with app.store.transaction() as tx:
        for (deliverable, recipient), reminders, draft in drafts:
            try:
                with tx.savepoint():
                    if _claim_and_queue(tx, reminders, draft, now, report):
                        done.append((deliverable, recipient, reminders))
                    else:
                        skipped += len(reminders)
            except _Lost:
                continue
            except Exception as error:
                _item_failed(error, f"{deliverable} -> {recipient}: reminder not queued", report)
                continue
    return done, skipped


class _Batch:
    """One transaction's groups of reminders, with their deliverables read in one query and the
    people who may receive them in another, instead of two queries per message."""

    def __init__(self, app: App, tx: Transaction, groups: list[tuple[tuple[str, str], list[Reminder]]]) -> None:
        defs = app.definitions
        self.groups = groups
        self.defs = defs
        self.rows = tx.deliverables_by_id(deliverable for (deliverable, _), _ in groups)
        roles = {role for row in self.rows.values() for role in self._stage(row).responsible}
        self._people = Scopes(people_for(defs, tx, list(self.rows.values()), roles))
        self._recipients: dict[str, list[Recipient]] = {}

    def _stage(self, row: Deliverable) -> Stage:
        return self.defs.workflow(row.workflow).stage(row.stage)

    def recipients(self, row: Deliverable) -> list[Recipient]:
        """Those responsible at the deliverable's stage, resolved once per deliverable."""
        if row.id not in self._recipients:
            people = self._people.of(self.defs, row)
            self._recipients[row.id] = recipients_among(self.defs, row, self._stage(row).responsible, people)
        return self._recipients[row.id]


class _Draft(Struct):
    """One group's message, made before any lock is taken: what to claim, and what to queue."""

    message_id: str
    deliverable_id: str
    late: bool = False  # its deadline has passed: the group is skipped, not sent
    person: Recipient | None = None  # None: nobody holds the role any more (nothing to send)
    rendered: Rendered | None = None
    failure: str | None = None  # the message could not be rendered, and why


def _draft(app: App, batch: _Batch, reminders: list[Reminder], now: datetime) -> _Draft:
    first = reminders[0]
    message_id = _message_id(
        "reminder",
        first.deliverable_id,
        first.entry_version,
        first.recipient,
        "-".join(str(r.offset_days) for r in reminders),
    )
    draft = _Draft(message_id, first.deliverable_id)
    if first.deadline <= now:
        draft.late = True
        return draft
    row = batch.rows.get(first.deliverable_id)
    if row is None:  # gone since the reminders were read (cannot happen while deliverables are kept)
        return draft
    draft.person = next((r for r in batch.recipients(row) if r.email == first.recipient), None)
    if draft.person is None:  # the person lost the role since planning: nothing to send, the claim stands
        return draft
    try:
        draft.rendered = reminder_message(
            message_id=message_id,
            sender=app.config.mail.sender,
            now=now,
            deliverable=_view(app, row),
            recipient=draft.person,
            deadline=first.deadline,
            host_zone=_host_zone(app, row.cycle),
            expected=expected_actions(app.definitions, row, draft.person.role, draft.person.email),
        )
    except Exception as error:
        draft.failure = f"cannot render the message: {type(error).__name__}: {error}"
    return draft


def _claim_and_queue(
    tx: Transaction, reminders: list[Reminder], draft: _Draft, now: datetime, report: DueReport
) -> bool:
    """Claim one group and queue its message (True), or skip it when its deadline has passed (False).
    Raises _Lost when another pass claimed any of them first."""
    ids = [r.id for r in reminders if r.id is not None]
    if draft.late:
        if not tx.claim_reminders(ids, "skipped", None):
            raise _Lost
        return False
    if not tx.claim_reminders(ids, "sent", draft.message_id):
        raise _Lost  # another pass claimed some of them first: undo this group's savepoint
    if draft.person is None:
        return True
    if draft.failure is not None:
        _unrenderable(
            tx, draft.message_id, "reminder", draft.deliverable_id, [draft.person.email], now, report, draft.failure
        )
    elif draft.rendered is not None:
        _queue(tx, draft.rendered, "reminder", draft.deliverable_id, now)
    return True


class _Lost(Exception):
    """A claim lost to another pass: its savepoint is rolled back and the work is theirs."""


class _Held(Struct):
    failed: bool = False


@contextmanager
def _isolated(
    tx: Transaction,
    message_id: str,
    kind: str,
    deliverable_id: str,
    recipients: list[str],
    now: datetime,
    report: DueReport,
) -> Iterator[_Held]:
    """A message that cannot be rendered is stored as failed, with its reason (`ascn outbox list`),
    in the same transaction as its claim: the lapse or the other messages of the pass go on."""
    held = _Held()
    try:
        yield held
    except Exception as error:
        if database_failure(error) is not None:
            raise
        held.failed = True
        reason = f"cannot render the message: {type(error).__name__}: {error}"
        _unrenderable(tx, message_id, kind, deliverable_id, recipients, now, report, reason)


def _unrenderable(
    tx: Transaction,
    message_id: str,
    kind: str,
    deliverable_id: str,
    recipients: list[str],
    now: datetime,
    report: DueReport,
    reason: str,
) -> None:
    """Stored as failed, with its reason (`ascn outbox list`), in the transaction of its claim."""
    tx.queue_message(_failed_message(message_id, kind, deliverable_id, recipients, now, reason))
    report.failed.append(f"{message_id}: {reason}")
    log.warning("%s for %s not sent: %s", kind, deliverable_id, reason)


def _failed_message(
    message_id: str, kind: str, deliverable_id: str, recipients: list[str], now: datetime, reason: str
) -> Message:
    return Message(
        message_id=message_id,
        kind=kind,
        deliverable_id=deliverable_id,
        recipients=recipients,
        subject=f"[ASCN] {kind}: {deliverable_id} (not rendered)",
        raw="",
        created_at=now,
        next_attempt_at=now,
        status="failed",
        last_error=reason,
    )


def _message(rendered: Rendered, kind: str, deliverable_id: str, now: datetime) -> Message:
    return Message(
        message_id=rendered.message_id,
        kind=kind,
        deliverable_id=deliverable_id,
        recipients=rendered.recipients,
        subject=rendered.subject,
        raw=rendered.raw,
        created_at=now,
        next_attempt_at=now,
    )


def _queue(tx: Transaction, rendered: Rendered, kind: str, deliverable_id: str, now: datetime) -> None:
    tx.queue_message(_message(rendered, kind, deliverable_id, now))


# ---------------------------------------------------------------------------- the outbox


DURABLE_EVERY = 50  # delivery records between two commits that wait for the disk
PAGE = 500  # messages read from the outbox at a time


def deliver(app: App, now: datetime, mailer: Mailer, report: DueReport) -> bool:
    """Send what the outbox holds; a failure is kept with its error and retried with backoff.
    Returns True when the pass's sending budget ran out with messages left.

    Each message is claimed (under a lease) in a transaction that also records how the previous
    one went, and sent after that commits: a crash repeats at most the message in flight, and a
    pass commits once per message. The mailer keeps one connection for the pass. A mailer whose
    resend replaces the message (the file backend) takes `BATCH` messages per transaction: what
    a crash makes it write again lands on the same file. On PostgreSQL that transaction is one
    statement, sent by itself (`Store.transaction(single=True)`): one round trip a message.

    These commits do not wait for the disk (`durable=False`), except every `DURABLE_EVERY`th and
    the last: a killed process loses none of them, and a power cut at most the record of the
    last few dozen messages sent, which are then sent again with the same Message-ID. Waiting
    for the disk at every message cost as much as the SMTP conversation itself.

    The outbox is read a page at a time (`PAGE`).
    """
    store = app.store
    step = BATCH if mailer.idempotent else 1
    budget = float(app.config.mail.pass_budget_seconds)
    started = time.monotonic()  # a duration, not a date: the domain's `now` stays the caller's
    results: list[Delivered] = []  # how the messages sent went, not yet stored
    turn, after = 0, 0
    pool = _writers() if mailer.idempotent else None
    try:
        while True:
            with store.read() as tx:
                page = tx.messages_to_send(now, after=after, limit=PAGE)
            for first in range(0, len(page), step):
                if time.monotonic() - started > budget:
                    return True
                recorded, results = results, []
                # the lease runs from the claim, not from the pass's `now`: a pass may send for
                # longer than the lease lasts (mail.pass_budget_seconds), and a lease that had
                # run out while its message was still being sent would let another pass send it
                claimed_at = now + timedelta(seconds=time.monotonic() - started)
                with store.transaction(durable=turn % DURABLE_EVERY == DURABLE_EVERY - 1, single=True) as tx:
                    claimed = tx.record_and_claim(recorded, page[first : first + step], now, lease_from=claimed_at)
                turn += 1
                attempts = (
                    pool.map(partial(_attempt, app, mailer), claimed)
                    if pool is not None
                    else (_attempt(app, mailer, message) for message in claimed)  # one at a time
                )
                for message, attempt in zip(claimed, attempts, strict=True):
                    results.append(_result(message, attempt, report))
            if len(page) < PAGE:
                return False
            after = page[-1].id or after
    finally:
        if pool is not None:
            pool.shutdown()
        mailer.close()
        if results:
            with store.transaction() as tx:
                tx.record_and_claim(results, [], now)


WRITERS = 4  # messages an idempotent mailer (the file backend) sends at once


def _writers() -> Executor:
    """Threads for an idempotent mailer's messages: the file backend's fsyncs, made at once, share
    the file system's journal commits instead of waiting for one each (docs/performance.md)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(WRITERS, thread_name_prefix="ascn-mail")


def _attempt(app: App, mailer: Mailer, message: Message) -> str | Exception | None:
    """Send one claimed message: the mailer's warning, or what it raised."""
    try:
        return mailer.send(
            message.message_id, message.raw.encode("utf-8"), app.config.mail.sender, list(message.recipients)
        )
    except Exception as error:
        return error


def _result(message: Message, attempt: str | Exception | None, report: DueReport) -> Delivered:
    """How a message's attempt went, reported, and to be recorded."""
    message_id = message.id
    assert message_id is not None
    if isinstance(attempt, Exception):  # this message's failure, never the pass's: the next one is sent
        if database_failure(attempt) is not None:
            raise attempt
        failure = (
            attempt
            if isinstance(attempt, MailError)
            else MailError(f"cannot send this message: {type(attempt).__name__}: {attempt}", permanent=True)
        )
        (report.failed if failure.permanent else report.retrying).append(f"{message.message_id}: {failure}")
        log.warning("delivery of %s failed: %s", message.message_id, failure)
        return Delivered(message_id, str(failure), retry=not failure.permanent, attempts=message.attempts + 1)
    report.delivered.append(message.message_id)
    log.debug("delivered %s to %s", message.message_id, ", ".join(message.recipients))
    return Delivered(message_id, warning=attempt or None)
