"""Reminders, deadline notices and the outbox: what is due, who claims it, what was sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from .dialect import DELIVERABLE_SELECT, columns, decode_instant, in_list
from .tables import (
    DELIVERABLE,
    OUTBOX,
    REMINDER,
    Deliverable,
    Message,
    Reminder,
)
from .tx_base import Statements

if TYPE_CHECKING:
    from ..planning import PlannedReminder


LEASE = timedelta(minutes=10)  # a message being sent by a process that died is retried after this
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed attempt, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Delivered(Struct, frozen=True):
    """How sending one claimed message went, to be recorded (`Transaction.record_and_claim`)."""

    id: int
    error: str | None = None  # None: sent
    retry: bool = False  # the error is worth another attempt, after a backoff
    attempts: int = 1  # attempts so far, this one included (the backoff grows with them)
    warning: str | None = None  # sent, but some recipients were refused


_SENDABLE = (
    "((status = 'queued' AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until < ?))"  # leases run out
)


class Mail(Statements):
    """Reminders, deadline notices and the outbox: what is due, who claims it, what was sent."""

    def reminders(self, deliverable_id: str, entry_version: int) -> list[Reminder]:
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE deliverable_id = ? AND entry_version = ? "
            "ORDER BY due_at, recipient",
            (deliverable_id, entry_version),
        )

    def cancel_reminders(self, deliverable_id: str, keep_version: int) -> int:
        """Leaving a stage cancels the reminders planned for it."""
        result = self.execute(
            "UPDATE reminder SET status = 'cancelled' "
            "WHERE deliverable_id = ? AND status = 'planned' AND entry_version <> ?",
            (deliverable_id, keep_version),
        )
        return int(result.rowcount or 0)

    def add_reminders(self, deliverable: Deliverable, planned: Sequence[PlannedReminder]) -> int:
        """Plan reminders for the deliverable's current stage entry; one planned already is kept once."""
        records = [
            Reminder(
                deliverable_id=deliverable.id,
                entry_version=deliverable.version,
                stage=deliverable.stage,
                recipient=p.recipient.email,
                offset_days=p.offset_days,
                due_at=p.due_at,
                deadline=p.deadline,
            )
            for p in planned
        ]
        return sum(
            self._insert(REMINDER, records[start : start + 100], " ON CONFLICT DO NOTHING")
            for start in range(0, len(records), 100)
        )

    def due_reminders(self, now: datetime) -> list[Reminder]:
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE status = 'planned' AND due_at <= ? "
            "ORDER BY deliverable_id, recipient",
            (self.dialect.instant(now),),
        )

    def claim_reminder_groups(self, groups: Sequence[tuple[Sequence[int], str, str | None]]) -> bool:
        """Move each group's planned reminders to its status and Message-ID, all in one statement.
        True if every one of them was still planned; False if another process claimed any of
        them first: the caller then rolls back and claims group by group (`claim_reminders`)."""
        rows = [(i, status, message_id) for ids, status, message_id in groups for i in ids]
        if not rows:
            return True
        values = ", ".join(["(?, ?, ?)"] * len(rows))
        result = self.execute(
            "UPDATE reminder SET status = claim.column2, message_id = claim.column3 "
            f"FROM (VALUES {values}) AS claim WHERE reminder.id = claim.column1 AND reminder.status = 'planned'",
            [v for row in rows for v in row],
        )
        return int(result.rowcount) == len(rows)

    def claim_reminders(self, ids: Sequence[int], status: str, message_id: str | None) -> bool:
        """Move planned reminders to `status`; False if another process claimed any of them first."""
        result = self.execute(
            f"UPDATE reminder SET status = ?, message_id = ? WHERE status = 'planned' AND id IN {in_list(ids)}",
            (status, message_id, *ids),
        )
        return int(result.rowcount) == len(ids)

    def past_deadline(self, now: datetime, stages: Iterable[tuple[str, str]]) -> list[Deliverable]:
        """Deliverables in a stage with a deadline transition whose deadline passed (index: stage, deadline)."""
        pairs = set(stages)
        if not pairs:
            return []
        names = sorted({stage for _, stage in pairs})
        rows = self._records(
            DELIVERABLE,
            f"{DELIVERABLE_SELECT} WHERE d.stage IN {in_list(names)} AND d.deadline < ? ORDER BY d.deadline, d.id",
            (*names, self.dialect.instant(now)),
        )
        return [r for r in rows if (r.workflow, r.stage) in pairs]

    def notice_owed(self, now: datetime, stages: Iterable[tuple[str, str]]) -> list[Deliverable]:
        """Deliverables past a deadline that moves nothing and whose notice is owed (index: notice_due)."""
        pairs = set(stages)
        rows = self._records(
            DELIVERABLE,
            f"{DELIVERABLE_SELECT} WHERE d.notice_due < ? ORDER BY d.notice_due, d.id",
            (self.dialect.instant(now),),
        )
        return [r for r in rows if (r.workflow, r.stage) not in pairs]

    def claim_notice(self, deliverable_id: str, deadline: datetime) -> bool:
        """One overdue notice per missed deadline: whoever sets `notified_deadline` first sends it.

        Either way the notice is no longer owed, so `notice_due` is cleared and the row leaves the
        scan of later passes (a deliverable may re-enter a stage whose deadline was notified already).
        """
        at = self.dialect.instant(deadline)
        result = self.execute(
            "UPDATE deliverable SET notified_deadline = ?, notice_due = NULL "
            "WHERE id = ? AND (notified_deadline IS NULL OR notified_deadline <> ?)",
            (at, deliverable_id, at),
        )
        if result.rowcount == 1:
            return True
        self.execute(
            "UPDATE deliverable SET notice_due = NULL WHERE id = ? AND notice_due IS NOT NULL", (deliverable_id,)
        )
        return False

    def next_due(self, trigger_stages: Iterable[tuple[str, str]]) -> datetime | None:
        """The earliest instant at which there will be due work (for the scheduler's next job)."""
        names = sorted({stage for _, stage in trigger_stages})
        queries: list[tuple[str, Sequence[Any]]] = [
            ("SELECT MIN(due_at) FROM reminder WHERE status = 'planned'", ()),
            ("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'queued'", ()),
            ("SELECT MIN(notice_due) FROM deliverable", ()),
        ]
        if names:
            queries.append((f"SELECT MIN(deadline) FROM deliverable WHERE stage IN {in_list(names)}", names))
        found = [decode_instant(row[0]) for text, params in queries if (row := self.one(text, params)) is not None]
        instants = [f for f in found if f is not None]
        return min(instants) if instants else None

    def queue_message(self, message: Message) -> None:
        self._insert(OUTBOX, [message])

    def queue_messages(self, messages: Sequence[Message]) -> None:
        """Several messages in one statement."""
        self._insert(OUTBOX, messages)

    def messages_to_send(self, now: datetime, *, after: int = 0, limit: int | None = None) -> list[Message]:
        """Queued messages whose next attempt is due, and those whose sender died mid-send (lease
        over), in order; `after` and `limit` read them a page at a time (a page of 100,000
        rendered messages would be a gigabyte)."""
        at = self.dialect.instant(now)
        page = f" LIMIT {int(limit)}" if limit is not None else ""
        return self._records(
            OUTBOX,
            f"SELECT {columns(OUTBOX)} FROM outbox WHERE {_SENDABLE} AND id > ? ORDER BY id{page}",
            (at, at, after),
        )

    def count_sendable(self, now: datetime) -> int:
        at = self.dialect.instant(now)
        found = self.one(f"SELECT COUNT(*) FROM outbox WHERE {_SENDABLE}", (at, at))
        return int(found[0]) if found else 0

    def record_and_claim(
        self,
        results: Sequence[Delivered],
        messages: Sequence[Message],
        now: datetime,
        *,
        lease_from: datetime | None = None,
    ) -> list[Message]:
        """Record how the messages last sent went and claim the next ones for sending (under a
        lease, `LEASE` from `lease_from`: the instant of the claim, which a long pass reaches well
        after its `now`); returns those this process won. On PostgreSQL all of it is one statement (the
        results in a data-modifying WITH), which may run as a transaction by itself
        (`Store.transaction(single=True)`); on SQLite, where a statement costs no round trip,
        one per result and one for the claims."""
        instant = self.dialect.instant
        ids = [m.id for m in messages]
        claim = (
            "UPDATE outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1 "
            f"WHERE id IN {in_list(ids)} AND {_SENDABLE} RETURNING id"
        )
        claim_params = (instant((lease_from or now) + LEASE), *ids, instant(now), instant(now))
        if not self.dialect.pg:
            for result in results:
                self.finish_message(result.id, now, result.error, retry=result.retry, attempts=result.attempts)
                if result.warning:
                    self.note_warning(result.id, result.warning)
            won = {row[0] for row in self.rows(claim, claim_params)} if messages else set()
            return [m for m in messages if m.id in won]
        rows: list[Any] = []
        for r in results:
            if r.error is None:
                rows += (r.id, "sent", instant(now), r.warning, None)
            elif r.retry:
                rows += (r.id, "queued", None, r.error, instant(now + backoff(r.attempts)))
            else:
                rows += (r.id, "failed", None, r.error, None)
        done = (
            "UPDATE outbox SET status = r.column2, sent_at = COALESCE(r.column3::timestamptz, outbox.sent_at), "
            "last_error = COALESCE(r.column4::text, outbox.last_error), "
            "next_attempt_at = COALESCE(r.column5::timestamptz, outbox.next_attempt_at), lease_until = NULL "
            f"FROM (VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(results))}) AS r WHERE outbox.id = r.column1"
        )
        if results and messages:
            found = self.rows(f"WITH done AS ({done}) {claim}", (*rows, *claim_params))
        elif messages:
            found = self.rows(claim, claim_params)
        else:
            if results:
                self.execute(done, rows)
            return []
        won = {row[0] for row in found}
        return [m for m in messages if m.id in won]

    def claim_message(self, message: Message, now: datetime) -> bool:
        at = self.dialect.instant(now)
        result = self.execute(
            f"UPDATE outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1 WHERE id = ? AND {_SENDABLE}",
            (self.dialect.instant(now + LEASE), message.id, at, at),
        )
        return int(result.rowcount) == 1

    def finish_message(
        self, message_id: int, now: datetime, error: str | None = None, retry: bool = False, attempts: int = 1
    ) -> None:
        instant = self.dialect.instant
        if error is None:
            self.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, lease_until = NULL WHERE id = ?",
                (instant(now), message_id),
            )
        elif retry:
            self.execute(
                "UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = ?, lease_until = NULL "
                "WHERE id = ?",
                (error, instant(now + backoff(attempts)), message_id),
            )
        else:
            self.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?, lease_until = NULL WHERE id = ?",
                (error, message_id),
            )

    def note_warning(self, message_id: int, warning: str) -> None:
        self.execute("UPDATE outbox SET last_error = ? WHERE id = ?", (warning, message_id))

    def outbox(self, status: str | None = None) -> list[Message]:
        where = " WHERE status = ?" if status else ""
        return self._records(
            OUTBOX, f"SELECT {columns(OUTBOX)} FROM outbox{where} ORDER BY id", (status,) if status else ()
        )

    def reminders_since(self, deliverable_id: str, entry_version: int) -> list[Reminder]:
        """The reminders of a stage entry and of the deadline moves since (they keep the stage)."""
        return self._records(
            REMINDER,
            f"SELECT {columns(REMINDER)} FROM reminder WHERE deliverable_id = ? AND entry_version >= ? "
            "ORDER BY due_at, recipient",
            (deliverable_id, entry_version),
        )

    def keep_sent(self, deliverable: Deliverable, sent: Sequence[Reminder]) -> int:
        """Carry reminders already sent into the deliverable's new version as `skipped` rows, so that
        planning this stage entry again (a moved deadline, a new person) never sends them twice."""
        records = [
            replace(r, entry_version=deliverable.version, status="skipped", message_id=None, id=None) for r in sent
        ]
        return self._insert(REMINDER, records, " ON CONFLICT DO NOTHING")

    def message(self, message_id: str) -> Message | None:
        found = self._records(OUTBOX, f"SELECT {columns(OUTBOX)} FROM outbox WHERE message_id = ?", (message_id,))
        return found[0] if found else None

    def redact_message(self, message_id: str, raw: str) -> None:
        """Replace a delivered message's stored text (a sign-in link must not outlive its sending)."""
        self.execute("UPDATE outbox SET raw = ? WHERE message_id = ?", (raw, message_id))
