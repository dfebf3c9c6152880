"""Issue 15: the due pass works in batches and keeps its guarantees.

- A batch of reminders reads its deliverables in one query and the people who may receive them
  in another, whatever the number of messages (SQL statements counted as sqlite3 runs them).
- Delivery records are committed without waiting for the disk; every other commit on the same
  connection (an advance after the pass) still waits for it.
- The file backend claims messages in batches: a scheduler killed with SIGKILL in the middle of a
  pass loses no message and writes none twice (a resend lands on the same file).
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import time
from email import policy
from typing import Any

import pytest

from ascn_workflow import due as due_module
from ascn_workflow import services
from ascn_workflow.due import BATCH, run_due_work

from .conftest import ASEC, CHAIR, NR, Ascn, join, spawn_ascn, stored, utc

STATES = ("BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN")


def _focal_points(a: Ascn, per_state: int) -> int:
    """`per_state` focal points for each member state; returns how many reminders fall due by
    16 February (each nomination's 14-day reminder: its NR, if any, and its focal points)."""
    people = "".join(
        f'[[people]]\nemail = "fp{i}@{code.lower()}.example"\nname = "FP {i} {code}"\nrole = "focal_point"\n'
        f'member_state = "{code}"\n\n'
        for code in STATES
        for i in range(per_state)
    )
    a.ok("people", "import", a.file("focal.toml", people), now="2018-01-20T09:00+08:00", actor=ASEC)
    return len(STATES) * per_state + len(NR)


def test_a_batch_reads_its_deliverables_and_recipients_in_one_query_each(sqlite_ready: Ascn) -> None:
    due = _focal_points(sqlite_ready, 6)  # 60 focal points and the NRs: more than one batch
    app = sqlite_ready.app()
    with app.store.read():
        pass  # the connection is open (PRAGMAs, schema check): only the pass is traced
    statements: list[str] = []
    connection, _dialect = app.store._connection()
    connection.set_trace_callback(statements.append)

    report = run_due_work(app, utc("2018-02-16T12:00+08:00"))

    assert len(report.reminders) == due and len(report.delivered) == due, report.failed
    batches = -(-due // BATCH)
    people = [s for s in statements if "FROM person p" in s]
    deliverables = [s for s in statements if "FROM deliverable d" in s and "WHERE d.id" in s]
    assert len(people) == batches, people  # not one per message
    assert len(deliverables) == batches, deliverables
    # Each batch is read (and rendered) before its write transaction, which only claims and queues:
    # other writers (an officer's advance, the portal) wait for no rendering.
    writes = [t for t in "\n".join(statements).split("BEGIN IMMEDIATE")[1:] if "UPDATE reminder" in t]
    assert len(writes) == batches
    for write in writes:
        inside = write.split("COMMIT")[0]
        assert "FROM person" not in inside and "FROM deliverable" not in inside, inside[:500]
    sent = {(m.deliverable_id, m.recipients[0]) for m in stored(app, "outbox")}
    assert ("2018/nomination/th", NR["TH"]) in sent and ("2018/nomination/vn", "fp5@vn.example") in sent
    assert ("2018/nomination/th", "fp0@vn.example") not in sent  # each message stays in its own scope


def test_delivery_commits_do_not_wait_for_the_disk_and_an_advance_after_them_does(sqlite_ready: Ascn) -> None:
    _focal_points(sqlite_ready, 2)
    app = sqlite_ready.app()
    with app.store.read():
        pass
    statements: list[str] = []
    connection, _dialect = app.store._connection()
    connection.set_trace_callback(statements.append)

    run_due_work(app, utc("2018-02-16T12:00+08:00"))
    relaxed = [i for i, s in enumerate(statements) if s == "PRAGMA synchronous=NORMAL"]
    assert relaxed, "delivery records are committed without waiting for the disk"
    assert all(statements[i + 1] == "BEGIN IMMEDIATE" for i in relaxed)
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL again for everything else

    statements.clear()
    services.advance(app, "2018/framework", "circulate", utc("2018-02-17T10:00+08:00"), ASEC)
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert "PRAGMA synchronous=NORMAL" not in statements
    assert connection.execute("PRAGMA synchronous").fetchone() == (2,)


@pytest.mark.slow  # a scheduler process, killed and restarted
def test_a_scheduler_killed_mid_pass_on_the_file_backend_loses_and_doubles_nothing(sqlite_ready: Ascn) -> None:
    due = _focal_points(sqlite_ready, 50)
    outbox = sqlite_ready.app().config.mail.outbox
    first = spawn_ascn(
        sqlite_ready, "scheduler", "--interval", "0.5", "--log-level", "WARNING", now="2018-02-16T12:00+08:00"
    )
    give_up = time.monotonic() + 240
    while len(list(outbox.glob("*.eml"))) < 100:  # polling a real process's output, not a clock
        assert time.monotonic() < give_up and first.poll() is None, "the scheduler wrote too little"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)  # no cleanup: a batch is claimed, part of it written
    first.wait(timeout=30)
    assert len(list(outbox.glob("*.eml"))) < due

    # Restarted after the 10-minute lease on the claimed messages has run out.
    second = spawn_ascn(sqlite_ready, "tick", now="2018-02-16T12:11+08:00")
    assert second.wait(timeout=240) == 0, second.stderr.read()  # type: ignore[union-attr]

    files = sorted(outbox.glob("*.eml"))
    ids = [email.message_from_bytes(f.read_bytes(), policy=policy.default)["Message-ID"] for f in files]
    assert len(files) == due and len(set(ids)) == due  # the killed write's temporary file is no message
    assert {m.status for m in stored(sqlite_ready.app(), "outbox")} == {"sent"}
    assert len(stored(sqlite_ready.app(), "outbox")) == due


@pytest.mark.parametrize("mail", ["file", "smtp"])
def test_the_outbox_is_read_a_page_at_a_time_and_every_message_goes_once(
    sqlite_ready: Ascn, mail_server: Any, monkeypatch: pytest.MonkeyPatch, mail: str
) -> None:
    """A pass of 100,000 messages never holds them all: pages of `due.PAGE` (here 7, so that pages
    end inside the file backend's batches and between the SMTP backend's single messages)."""
    if mail == "smtp":
        config = sqlite_ready.config
        config.write_text(
            config.read_text().replace('backend = "file"', 'backend = "smtp"')
            + f'host = "127.0.0.1"\nport = {mail_server.port}\n'
        )
    due = _focal_points(sqlite_ready, 3)
    monkeypatch.setattr(due_module, "PAGE", 7)
    app = sqlite_ready.app()
    reads: list[str] = []
    connection, _dialect = app.store._connection()
    connection.set_trace_callback(lambda s: reads.append(s) if "FROM outbox WHERE" in s else None)

    report = run_due_work(app, utc("2018-02-16T12:00+08:00"))

    assert len(report.delivered) == len(set(report.delivered)) == due, report.failed
    assert len(reads) == due // 7 + 1  # every page, then the short last one
    assert {m.status for m in stored(app, "outbox")} == {"sent"}
    if mail == "smtp":
        assert sorted(r.message_id for r in mail_server.received) == sorted(report.delivered)
    else:
        assert len(list(app.config.mail.outbox.glob("*.eml"))) == due


@pytest.mark.parametrize("chair", ["explicit", "the chairing state's NR"])
def test_each_deliverable_of_a_batch_gets_the_recipients_it_would_get_alone(sqlite_ready: Ascn, chair: str) -> None:
    """`reminding.Scopes` picks each deliverable's people out of the batch's by scope; the answer
    is the one-deliverable query's, for every role, the Chair included: an explicit grant for
    2018's chairing state, or without one (the grant removed from the table) Singapore's NR."""
    from ascn_workflow.reminding import Scopes, people_for, recipients, recipients_among

    _focal_points(sqlite_ready, 2)
    for code, city in (("TH", "Bangkok"), ("VN", "Ha Noi")):
        join(
            sqlite_ready,
            code,
            [city],
            nr=NR[code],
            submitted="2018-02-20T10:00+08:00",
            accepted="2018-02-21T10:00+08:00",
        )
    app = sqlite_ready.app()
    if chair != "explicit":
        with app.store.transaction() as tx:
            tx.execute("DELETE FROM person_role WHERE role = 'chair'")
    with app.store.read() as tx:
        seat = {r.email for r in recipients(app.definitions, tx, tx.deliverable("2018/framework"), ["chair"])}
    assert seat == ({CHAIR} if chair == "explicit" else {NR["SG"]})
    roles = ("csco", "nr", "focal_point", "chair", "asec", "shepherd")
    with app.store.read() as tx:
        rows = tx.deliverables(cycle=2018)
        scopes = Scopes(people_for(app.definitions, tx, rows, roles))
        for row in rows:
            for role in roles:
                alone = recipients(app.definitions, tx, row, [role])
                assert recipients_among(app.definitions, row, [role], scopes.of(app.definitions, row)) == alone, (
                    row.id,
                    role,
                )
    assert any(r.workflow == "action-plan" for r in rows)  # CSCOs' own deliverables are among them


def test_a_group_another_pass_claimed_first_is_left_to_it_and_the_rest_of_its_batch_goes_once(
    ready: Ascn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is claimed in one statement when nobody else claimed any of it; here another pass
    (another connection) claims one group while this pass renders its batch, so the batch is
    claimed group by group instead: that group is the other pass's, every other one is sent once."""
    due = _focal_points(ready, 6)
    app, other = ready.app(), ready.app()
    draft = due_module._draft
    stolen: list[tuple[str, str]] = []

    def draft_while_another_pass_claims(app_: Any, batch: Any, reminders: list[Any], now: Any) -> Any:
        if not stolen and len(batch.groups) > 1:  # the first group of the first batch
            first = reminders[0]
            with other.store.transaction() as tx:
                assert tx.claim_reminders([r.id for r in reminders], "sent", "<another-pass@example>")
            stolen.append((first.deliverable_id, first.recipient))
        return draft(app_, batch, reminders, now)

    monkeypatch.setattr(due_module, "_draft", draft_while_another_pass_claims)
    report = run_due_work(app, utc("2018-02-16T12:00+08:00"))

    assert len(stolen) == 1 and not report.failed
    assert f"{stolen[0][0]} -> {stolen[0][1]}" not in report.reminders
    assert len(report.reminders) == len(set(report.reminders)) == due - 1
    assert len(report.delivered) == len(set(report.delivered)) == due - 1
    outbox = stored(app, "outbox")
    assert len(outbox) == due - 1 and {m.status for m in outbox} == {"sent"}
    assert stolen[0] not in {(m.deliverable_id, m.recipients[0]) for m in outbox}
    reminders = stored(app, "reminder")
    assert sum(r.message_id == "<another-pass@example>" for r in reminders) == 1
    assert {r.status for r in reminders if r.due_at <= utc("2018-02-16T12:00+08:00")} <= {"sent", "skipped"}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_on_postgresql_delivery_records_do_not_wait_for_the_disk_and_an_advance_after_them_does(
    ready: Ascn,
) -> None:
    """Each delivery record is one statement in a session whose `synchronous_commit` is off
    (every `DURABLE_EVERY`th and the last excepted); the next transaction of any other kind on
    that connection, here an advance, commits waiting for the disk again."""
    from ascn_workflow.mail.file import FileMailer

    due = _focal_points(ready, 6)
    app = ready.app()
    connection, _dialect = app.store._connection()
    seen: list[str] = []

    class FileMailerWatchingTheSession(FileMailer):
        def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
            seen.append(connection.execute("SHOW synchronous_commit").fetchone()[0])
            connection.rollback()
            return super().send(message_id, raw, sender, recipients)

    report = run_due_work(app, utc("2018-02-16T12:00+08:00"), FileMailerWatchingTheSession(app.config.mail.outbox))

    assert len(report.delivered) == due and not report.failed
    assert set(seen) == {"off"}  # the file backend's turns: 50 messages each, none a 50th
    assert connection.execute("SHOW synchronous_commit").fetchone() == ("on",)
    connection.rollback()
    services.advance(app, "2018/framework", "circulate", utc("2018-02-17T10:00+08:00"), ASEC)
    assert connection.execute("SHOW synchronous_commit").fetchone() == ("on",)
    connection.rollback()


def test_a_file_outbox_that_cannot_be_written_delays_every_message_and_loses_none(sqlite_ready: Ascn) -> None:
    """The file backend writes a turn's messages several at a time: each failed write is its own
    message's, kept queued with its error and written by a later pass; none is lost or doubled."""
    due = _focal_points(sqlite_ready, 2)
    app = sqlite_ready.app()
    outbox = app.config.mail.outbox
    if outbox.exists():
        shutil.rmtree(outbox)
    outbox.write_text("a file where the outbox folder should be\n")

    report = run_due_work(app, utc("2018-02-16T12:00+08:00"))

    assert due > due_module.WRITERS and not report.delivered and not report.failed
    assert len(report.retrying) == due and all("cannot write to" in r for r in report.retrying)
    assert {(m.status, m.attempts) for m in stored(app, "outbox")} == {("queued", 1)}

    outbox.unlink()
    later = run_due_work(app, utc("2018-02-16T12:05+08:00"))  # after the first backoff (a minute)

    assert len(later.delivered) == len(set(later.delivered)) == due and not later.retrying
    assert {m.status for m in stored(app, "outbox")} == {"sent"}
    assert len(list(outbox.glob("*.eml"))) == due


def test_a_message_claimed_late_in_a_long_pass_is_leased_from_its_claim(
    sqlite_ready: Ascn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass may send for longer than a lease lasts (`mail.pass_budget_seconds` = 7200 here, the
    lease 10 minutes). Each lease ran from the pass's `now`, so a message claimed 20 minutes into
    the pass was claimed with a lease already run out, and another scheduler would have sent it
    again. The pass's duration is simulated: the mailer (a real file mailer) moves the monotonic
    clock 400 s a message, as a slow server would, which no real server here can be made to take."""
    from datetime import timedelta

    from ascn_workflow.mail.file import FileMailer
    from ascn_workflow.store.tx_mail import LEASE

    due = _focal_points(sqlite_ready, 1)
    sqlite_ready.config.write_text(sqlite_ready.config.read_text() + "pass_budget_seconds = 7200\n")
    app = sqlite_ready.app()
    assert app.config.mail.pass_budget_seconds == 7200
    now = utc("2018-02-16T12:00+08:00")
    clock = [0.0]
    monkeypatch.setattr(due_module.time, "monotonic", lambda: clock[0])
    leases: list[tuple[float, Any]] = []

    class SlowMailer(FileMailer):
        idempotent = False  # claimed one message at a time, as for an SMTP server

        def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
            with app.store.read() as tx:
                row = next(m for m in tx.outbox() if m.message_id == message_id)
            leases.append((clock[0], row.lease_until))
            clock[0] += 400
            return super().send(message_id, raw, sender, recipients)

    report = run_due_work(app, now, SlowMailer(app.config.mail.outbox))
    assert len(report.delivered) == due and clock[0] > LEASE.total_seconds()
    for elapsed, lease in leases:
        assert lease >= now + timedelta(seconds=elapsed) + LEASE, (elapsed, lease)
