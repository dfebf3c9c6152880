"""Many officers and schedulers on one PostgreSQL database, as separate processes.

No lost update, exactly one winner per race, every reminder delivered exactly once by two
schedulers, and after `kill -9` only the messages in flight may repeat, with their Message-ID.
"""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ASEC, NR, PEOPLE, Ascn, join, spawn_ascn, start_scheduler, stored, write_config
from .mailserver import MailServer
from .postgres import fresh_database

pytestmark = pytest.mark.slow  # separate processes on a shared server

CITIES = {
    "TH": ["Bangkok", "Chonburi", "Phuket"],
    "VN": ["Ha Noi", "Da Nang", "Ho Chi Minh City"],
    "KH": ["Phnom Penh", "Battambang", "Siem Reap"],
    "ID": ["DKI Jakarta", "Banyuwangi", "Makassar"],
    "MM": ["Nay Pyi Taw", "Mandalay", "Yangon"],
    "PH": ["Manila", "Cebu City", "Davao City"],
    "LA": ["Vientiane", "Luang Prabang"],
}


@pytest.fixture
def pg(tmp_path: Path, postgres_admin_url: str) -> Iterator[Ascn]:
    with fresh_database(postgres_admin_url) as url:
        a = Ascn(tmp_path, write_config(tmp_path, url))
        a.ok("init")
        a.ok("people", "import", a.file("people.toml", PEOPLE), actor=ASEC)
        yield a


def _ascn(a: Ascn, *args: str, now: str, actor: str | None = None) -> subprocess.Popen[str]:
    return spawn_ascn(a, *args, now=now, actor=actor)


def test_twenty_advancing_and_twenty_racing(pg: Ascn) -> None:
    for code, cities in CITIES.items():
        fp = f"fp@{code.lower()}.example"
        pg.ok(
            "people",
            "add",
            "--email",
            fp,
            "--name",
            f"FP {code}",
            "--role",
            "focal_point",
            "--member-state",
            code,
            actor=ASEC,
        )
        join(
            pg,
            code,
            cities,
            nr=f"nr@{code.lower()}.example",
            actor=fp,
            submitted="2018-02-20T10:00+08:00",
            accepted="2018-02-21T10:00+08:00",
        )
    plans = sorted(f"2018/action-plan/{c.lower().replace(' ', '-')}" for cs in CITIES.values() for c in cs)
    assert len(plans) == 20
    now = "2018-05-22T10:00+08:00"
    distinct = [_ascn(pg, "advance", plan, "start", now=now, actor=ASEC) for plan in plans]
    racers = [_ascn(pg, "advance", "2018/framework", "circulate", now=now, actor=ASEC) for _ in range(20)]
    distinct_results = [(p.wait(timeout=300), p.stderr.read()) for p in distinct]  # type: ignore[union-attr]
    racer_results = [(p.wait(timeout=300), p.stderr.read()) for p in racers]  # type: ignore[union-attr]

    assert [code for code, _ in distinct_results] == [0] * 20, distinct_results
    codes = Counter(code for code, _ in racer_results)
    assert codes[0] == 1 and set(codes) <= {0, 4, 6}, racer_results
    for code, err in racer_results:
        if code:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    rows = {r.id: r for r in stored(pg.app(), "deliverable")}
    history = Counter(h.deliverable_id for h in stored(pg.app(), "history"))
    assert all(rows[p].stage == "drafting" and rows[p].version == 2 and history[p] == 1 for p in plans)
    assert rows["2018/framework"].version == 2 and history["2018/framework"] == 1
    assert pg.json("audit", "verify")["problems"] == []


# 50 focal points per member state, plus the NRs of PEOPLE: each gets one 14-day reminder by 16 February.
DUE = 500 + len(NR)


def _five_hundred_focal_points(a: Ascn, port: int) -> None:
    """50 focal points per member state: 500 reminders due on 16 February, one message each."""
    a.config.write_text(
        a.config.read_text().replace('backend = "file"', 'backend = "smtp"') + f'host = "127.0.0.1"\nport = {port}\n'
    )
    people = "".join(
        f'[[people]]\nemail = "fp{i}@{code.lower()}.example"\nname = "FP {i} {code}"\nrole = "focal_point"\n'
        f'member_state = "{code}"\n\n'
        for code in ("BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN")
        for i in range(50)
    )
    a.ok("people", "import", a.file("focal.toml", people), now="2018-01-20T09:00+08:00", actor=ASEC)


def _scheduler(a: Ascn, now: str) -> subprocess.Popen[str]:
    """A scheduler that is running (its SIGTERM handler set), so that `_stop` stops it cleanly."""
    log = a.folder / f"scheduler-{len(list(a.folder.glob('scheduler-*.log')))}.log"
    return start_scheduler(a, log, "--interval", "0.5", now=now)  # type: ignore[no-any-return]


def _stop(*procs: subprocess.Popen[str]) -> list[int]:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    return [p.wait(timeout=60) for p in procs]


def test_two_schedulers_deliver_every_reminder_exactly_once(pg: Ascn) -> None:
    server = MailServer(delay=0.01)
    server.start()
    try:
        _five_hundred_focal_points(pg, server.port)
        before_deadline = "2018-02-16T12:00+08:00"
        a, b = _scheduler(pg, before_deadline), _scheduler(pg, before_deadline)
        assert server.wait_for(lambda got: len({r.message_id for r in got}) >= DUE, timeout=240)
        assert _stop(a, b) == [0, 0]
        counts = Counter(r.message_id for r in server.received)
        assert len(counts) == DUE and max(counts.values()) == 1

        after_deadline = "2018-03-01T12:00+08:00"  # both apply the lapse of all ten nominations
        a, b = _scheduler(pg, after_deadline), _scheduler(pg, after_deadline)
        assert server.wait_for(lambda got: sum("OVERDUE" in r.message["Subject"] for r in got) >= 10, timeout=240)
        assert _stop(a, b) == [0, 0]
    finally:
        server.stop()
    lapses = Counter(h.deliverable_id for h in stored(pg.app(), "history") if h.trigger == "lapse")
    outbox = Counter(m.status for m in stored(pg.app(), "outbox"))
    assert len(lapses) == 10 and set(lapses.values()) == {1}
    assert sum("OVERDUE" in r.message["Subject"] for r in server.received) == 10
    assert outbox == {"sent": DUE + 10}


def test_kill_minus_nine_mid_batch_loses_nothing(pg: Ascn) -> None:
    server = MailServer(delay=0.02)
    server.start()
    try:
        _five_hundred_focal_points(pg, server.port)
        first = _scheduler(pg, "2018-02-16T12:00+08:00")
        assert server.wait_for(lambda got: len(got) >= 100, timeout=240)
        first.kill()  # SIGKILL: no cleanup, messages may be mid-send
        first.wait(timeout=30)
        assert len(server.received) < DUE
        # Restarted after the 10-minute lease on in-flight messages has run out.
        second = _scheduler(pg, "2018-02-16T12:11+08:00")
        assert server.wait_for(lambda got: len({r.message_id for r in got}) >= DUE, timeout=240)
        assert _stop(second) == [0]
    finally:
        server.stop()
    counts = Counter(r.message_id for r in server.received)
    assert len(counts) == DUE
    duplicates = [mid for mid, n in counts.items() if n > 1]
    assert len(duplicates) <= 1, duplicates  # at most the one message the killed process was sending
    assert all(counts[mid] == 2 for mid in duplicates)
    assert Counter(m.status for m in stored(pg.app(), "outbox")) == {"sent": DUE}


def test_killed_advances_leave_old_or_new_state_with_its_history(pg: Ascn) -> None:
    for code in ("TH", "VN", "KH"):
        join(
            pg,
            code,
            CITIES[code],
            nr=f"nr@{code.lower()}.example",
            actor=ASEC,
            submitted="2018-02-20T10:00+08:00",
            accepted="2018-02-21T10:00+08:00",
        )
    plans = [f"2018/action-plan/{c.lower().replace(' ', '-')}" for code in ("TH", "VN", "KH") for c in CITIES[code]]
    rng = random.Random(2018)
    outcomes = Counter()
    for plan in plans:
        proc = _ascn(pg, "advance", plan, "start", now="2018-05-22T10:00+08:00", actor=ASEC)
        try:
            proc.wait(timeout=rng.uniform(0.2, 1.2))
            outcomes["finished"] += 1
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            outcomes["killed"] += 1
    rows = {r.id: r for r in stored(pg.app(), "deliverable")}
    history = Counter(h.deliverable_id for h in stored(pg.app(), "history"))
    for plan in plans:
        row = rows[plan]
        assert (row.stage, row.version, history[plan]) in {("not_started", 1, 0), ("drafting", 2, 1)}, plan
    assert pg.json("audit", "verify")["problems"] == []
    assert sum(outcomes.values()) == len(plans)
