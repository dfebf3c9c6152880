"""Due work in the database: planned reminders, overdue notices and the outbox.

Every piece of work is *claimed* by a conditional UPDATE (`… WHERE status = 'planned'`) in the
same transaction that records its result, so two schedulers, a restart or a retry can never do it
twice: the loser's UPDATE matches no row. The database, not a process's memory, is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from ..planning import PlannedReminder
from .tables import DeliverableRow, OutboxRow, ReminderRow

LEASE = timedelta(minutes=10)  # a message being sent by a process that died is retried after this
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class QueueStore:
    # ------------------------------------------------------------------ reminders

    def cancel_reminders(self, session: Session, deliverable_id: str, keep_version: int) -> int:
        """Leaving a stage cancels the reminders planned for it (on the hot path: store/direct.py)."""
        from .direct import Db

        return Db.of(session).cancel_reminders(deliverable_id, keep_version)

    def add_reminders(self, session: Session, row: DeliverableRow, planned: Sequence[PlannedReminder]) -> int:
        existing = {
            (r.recipient, r.offset_days)
            for r in session.exec(
                select(ReminderRow).where(
                    ReminderRow.deliverable_id == row.id, ReminderRow.entry_version == row.version
                )
            )
        }
        added = 0
        for p in planned:
            if (p.recipient.email, p.offset_days) in existing:
                continue
            session.add(
                ReminderRow(
                    deliverable_id=row.id,
                    entry_version=row.version,
                    stage=row.stage,
                    recipient=p.recipient.email,
                    offset_days=p.offset_days,
                    due_at=p.due_at,
                    deadline=p.deadline,
                )
            )
            added += 1
        session.flush()
        return added

    def due_reminders(self, session: Session, now: datetime) -> list[ReminderRow]:
        query = select(ReminderRow).where(ReminderRow.status == "planned", col(ReminderRow.due_at) <= now)
        return list(session.exec(query.order_by(col(ReminderRow.deliverable_id), col(ReminderRow.recipient))))

    def claim_reminders(self, session: Session, ids: Sequence[int], status: str, message_id: str | None) -> bool:
        """Move planned reminders to `status`; False if another process claimed any of them first."""
        result = session.execute(
            update(ReminderRow)
            .where(col(ReminderRow.id).in_(ids), col(ReminderRow.status) == "planned")
            .values(status=status, message_id=message_id)
        )
        return result.rowcount == len(ids)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ deadlines

    def past_deadline(self, session: Session, now: datetime, stages: Iterable[tuple[str, str]]) -> list[DeliverableRow]:
        """Deliverables in a stage with a deadline transition whose deadline passed (index: stage, deadline)."""
        pairs = set(stages)
        if not pairs:
            return []
        query = select(DeliverableRow).where(
            col(DeliverableRow.stage).in_(sorted({stage for _, stage in pairs})), col(DeliverableRow.deadline) < now
        )
        rows = session.exec(query.order_by(col(DeliverableRow.deadline), col(DeliverableRow.id)))
        return [r for r in rows if (r.workflow, r.stage) in pairs]

    def notice_owed(self, session: Session, now: datetime, stages: Iterable[tuple[str, str]]) -> list[DeliverableRow]:
        """Deliverables past a deadline that moves nothing and whose notice is owed (index: notice_due)."""
        pairs = set(stages)
        query = select(DeliverableRow).where(col(DeliverableRow.notice_due) < now)
        rows = session.exec(query.order_by(col(DeliverableRow.notice_due), col(DeliverableRow.id)))
        return [r for r in rows if (r.workflow, r.stage) not in pairs]

    def claim_notice(self, session: Session, deliverable_id: str, deadline: datetime) -> bool:
        """One overdue notice per missed deadline: whoever sets `notified_deadline` first sends it.

        Either way the notice is no longer owed, so `notice_due` is cleared and the row leaves the
        scan of later passes (a deliverable may re-enter a stage whose deadline was notified already).
        """
        owed = or_(col(DeliverableRow.notified_deadline).is_(None), col(DeliverableRow.notified_deadline) != deadline)
        result = session.execute(
            update(DeliverableRow)
            .where(col(DeliverableRow.id) == deliverable_id, owed)
            .values(notified_deadline=deadline, notice_due=None)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        session.execute(
            update(DeliverableRow)
            .where(col(DeliverableRow.id) == deliverable_id, col(DeliverableRow.notice_due).is_not(None))
            .values(notice_due=None)
        )
        return False

    # ------------------------------------------------------------------ outbox

    def queue_message(
        self,
        session: Session,
        *,
        message_id: str,
        kind: str,
        deliverable_id: str,
        recipients: list[str],
        subject: str,
        raw: str,
        now: datetime,
    ) -> OutboxRow:
        row = OutboxRow(
            message_id=message_id,
            kind=kind,
            deliverable_id=deliverable_id,
            recipients=recipients,
            subject=subject,
            raw=raw,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(row)
        session.flush()
        return row

    def deliverable_messages(self, session: Session, now: datetime) -> list[OutboxRow]:
        """Queued messages whose next attempt is due, and those whose sender died mid-send (lease over)."""
        query = select(OutboxRow).where(
            or_(
                and_(col(OutboxRow.status) == "queued", col(OutboxRow.next_attempt_at) <= now),
                and_(col(OutboxRow.status) == "sending", col(OutboxRow.lease_until) < now),
            )
        )
        return list(session.exec(query.order_by(col(OutboxRow.id))))

    def claim_message(self, session: Session, message: OutboxRow, now: datetime) -> bool:
        result = session.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.id) == message.id,
                or_(
                    and_(col(OutboxRow.status) == "queued", col(OutboxRow.next_attempt_at) <= now),
                    and_(col(OutboxRow.status) == "sending", col(OutboxRow.lease_until) < now),
                ),
            )
            .values(status="sending", lease_until=now + LEASE, attempts=OutboxRow.attempts + 1)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def finish_message(
        self,
        session: Session,
        message_id: int,
        now: datetime,
        error: str | None = None,
        retry: bool = False,
        attempts: int = 1,
    ) -> None:
        values: dict[str, object]
        if error is None:
            values = {"status": "sent", "sent_at": now, "lease_until": None}
        elif retry:
            values = {
                "status": "queued",
                "last_error": error,
                "next_attempt_at": now + backoff(attempts),
                "lease_until": None,
            }
        else:
            values = {"status": "failed", "last_error": error, "lease_until": None}
        session.execute(update(OutboxRow).where(col(OutboxRow.id) == message_id).values(**values))

    def note_warning(self, session: Session, message_id: int, warning: str) -> None:
        session.execute(update(OutboxRow).where(col(OutboxRow.id) == message_id).values(last_error=warning))

    def outbox(self, session: Session, status: str | None = None) -> list[OutboxRow]:
        query = select(OutboxRow)
        if status:
            query = query.where(OutboxRow.status == status)
        return list(session.exec(query.order_by(col(OutboxRow.id))))

    def next_due(self, session: Session, trigger_stages: Iterable[tuple[str, str]]) -> datetime | None:
        """The earliest instant at which there will be due work (for the scheduler's next job)."""
        pairs = list(trigger_stages)
        queries = [
            select(ReminderRow.due_at).where(ReminderRow.status == "planned").order_by(col(ReminderRow.due_at)),
            select(OutboxRow.next_attempt_at)
            .where(OutboxRow.status == "queued")
            .order_by(col(OutboxRow.next_attempt_at)),
        ]
        if pairs:
            queries.append(
                select(DeliverableRow.deadline)
                .where(col(DeliverableRow.stage).in_(sorted({stage for _, stage in pairs})))
                .where(col(DeliverableRow.deadline).is_not(None))
                .order_by(col(DeliverableRow.deadline))
            )
        queries.append(
            select(DeliverableRow.notice_due)
            .where(col(DeliverableRow.notice_due).is_not(None))
            .order_by(col(DeliverableRow.notice_due))
        )
        found = [session.exec(q.limit(1)).first() for q in queries]
        instants = [f for f in found if f is not None]
        return min(instants) if instants else None
