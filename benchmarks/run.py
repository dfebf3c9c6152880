"""Benchmarks of ascn_workflow at ASEAN scale, each reported against a baseline measured in the same run.

    python benchmarks/run.py --size S|M|L [--runs N] [--json FILE] [--db-url postgresql+psycopg://…]
                             [--only starts,status,advances,scheduler,due]

Sizes: S is the 2018 network (26 cities, 1 cycle); M 1,000 cities over 8 cycles (about 20,000
deliverables, 200,000 history rows); L 10,000 cities over 8 cycles (about 200,000 deliverables, two
million history rows). Each city has its yearly deliverables and every other city a project; the
finished ones went back and forth 0-18 times on the way (plans sent back, pairings undone). The
synthetic network is written in bulk; everything measured goes through the real CLI or the real
services.

Measures (median of --runs):
- cold start of `ascn --help` and of `ascn show ID`, against a minimal click command (baseline);
- `ascn status --json` and `ascn status --workflow nomination --overdue` at the size;
- in-process advances per second (transition + history row, committed), against a sqlite3 loop
  doing the same UPDATE and INSERT per transition (the limit);
- one due-work pass with 1,000 due reminders (file backend) at S, M and L: its cost should follow
  the due work, not the size of the database;
- peak memory (RSS) of `ascn scheduler` idle at the size.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"S": (26, 1), "M": (1_000, 8), "L": (10_000, 8)}
NOW = datetime(2025, 5, 20, 4, 0, tzinfo=UTC)  # during the 2025 cycle, before its progress reviews are due
MINIMAL_CLICK = "import click\n@click.command()\ndef main():\n    'A minimal click command.'\nmain()\n"


# ---------------------------------------------------------------------------- building a network


def _config(folder: Path, db_url: str | None) -> Path:
    url = db_url or f"sqlite:///{folder / 'ascn.db'}"
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[calendar]\ncycle = 2025\n[workflows]\ndir = "{ROOT / "workflows"}"\n'
        f'[mail]\nbackend = "file"\noutbox = "outbox"\n'
    )
    return path


def build(folder: Path, size: str, db_url: str | None = None) -> Path:
    """A database of the given size: real schema and definitions, synthetic cities and history."""
    from sqlalchemy import insert

    from ascn_workflow import services
    from ascn_workflow.app import App
    from ascn_workflow.audit import digest
    from ascn_workflow.config import load_config
    from ascn_workflow.opening import cycle_openings
    from ascn_workflow.store.migrate import make_engine
    from ascn_workflow.store.schema import TABLES

    CityRow, DeliverableRow, HistoryRow, PersonRow, RoleRow = (
        TABLES[name] for name in ("city", "deliverable", "history", "person", "person_role")
    )

    n_cities, n_cycles = SIZES[size]
    config = _config(folder, db_url)
    app = App(load_config(config, explicit=True))
    defs = app.definitions
    cycles = list(range(2018, 2018 + n_cycles))
    opened = datetime(2018, 1, 15, tzinfo=UTC)
    services.init(app, 2018, opened)
    for cycle in cycles[1:]:  # network deliverables of later cycles; no member city yet
        services.open_cycle(app, cycle, opened.replace(year=cycle))
    states = list(defs.network.member_states.values())
    real = [c for c in defs.network.cities]
    cities = [(c.slug, c.name, c.member_state, c.zone) for c in real][:n_cities]
    for i in range(len(cities), n_cities):
        state = states[i % len(states)]
        cities.append((f"bench-city-{i:05d}", f"Bench City {i:05d}", state.code, state.zone))
    engine = make_engine(app.config.database_url)
    with engine.begin() as c:
        c.execute(CityRow.delete())
        c.execute(
            insert(CityRow),
            [dict(slug=s, name=n, member_state=m, zone=z, capital=False, joined_cycle=2018) for s, n, m, z in cities],
        )
        people = [dict(email="officer@asec.example", name="ASEC officer")]
        roles = [dict(email="officer@asec.example", role="asec", member_state="", city="")]
        for state in states:
            email = f"nr@{state.code.lower()}.example"
            people.append(dict(email=email, name=f"NR {state.code}"))
            roles.append(dict(email=email, role="nr", member_state=state.code, city=""))
        for slug, _, state, _ in cities:
            email = f"csco@{slug}.example"
            people.append(dict(email=email, name=f"CSCO {slug}"))
            roles.append(dict(email=email, role="csco", member_state=state, city=slug))
        c.execute(insert(PersonRow), people)
        c.execute(insert(RoleRow), roles)
        _record_grants(c, roles, {p["email"]: p["name"] for p in people}, opened)
    from ascn_workflow.engine import stage_deadline

    deliverables: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []

    def flush(final: bool = False) -> None:
        """Write what has been built so far, in batches (L would not fit in memory as one list)."""
        if len(history) < 50_000 and not final:
            return
        with engine.begin() as c:
            if deliverables:
                c.execute(insert(DeliverableRow), deliverables)
            if history:
                c.execute(insert(HistoryRow), history)
        deliverables.clear()
        history.clear()

    serial = 0
    for cycle in cycles:
        kinds = ("action-plan", "twinning") if cycle == 2018 else ("progress-review", "twinning-follow-up")
        for n, (slug, _, state, _) in enumerate(cities):
            for wf_name in (*kinds, "project") if n % 2 == 0 else kinds:
                wf = defs.workflow(wf_name)
                did = f"{cycle}/{wf_name}/{slug}" if wf_name != "project" else f"{cycle}/project/{slug}/1"
                final = cycle < cycles[-1]
                serial += 1
                path = _walk(wf, final, rounds=serial % 19)
                prev = ""
                for seq, (trigger, source, dest) in enumerate(path, start=1):
                    at = opened.replace(year=cycle) + timedelta(days=10, hours=seq)
                    row = dict(
                        deliverable_id=did,
                        seq=seq,
                        trigger=trigger,
                        source=source,
                        dest=dest,
                        actor="officer@asec.example",
                        role="asec",
                        effective_at=at,
                        recorded_at=at,
                        note=None,
                        data={},
                        waivers={},
                    )
                    row["prev_hash"], row["hash"] = prev, digest(row, prev)
                    prev = row["hash"]
                    history.append(row)
                stage = path[-1][2] if path else wf.initial
                deadline = None if final else stage_deadline(defs, cycle, wf, stage)
                deliverables.append(
                    dict(
                        id=did,
                        cycle=cycle,
                        workflow=wf_name,
                        member_state=state,
                        city=slug,
                        stage=stage,
                        deadline=deadline,
                        notice_due=deadline,
                        version=len(path) + 1,
                        data={"title": f"Project of {slug}"} if wf_name == "project" else {},
                        opened_at=opened.replace(year=cycle),
                        last_event_at=history[-1]["effective_at"] if path else None,
                    )
                )
            flush()
    flush(final=True)
    assert cycle_openings  # the real openings made the network deliverables above
    return config


def _walk(wf: Any, final: bool, rounds: int = 0) -> list[tuple[str, str, str]]:
    """The path of a deliverable: none when still open (at its first stage); when finished, forward to
    its last stage, going back a stage and forward again `rounds` times where the workflow allows
    (a plan sent back, a pairing undone), so that M holds the ~200,000 history rows it is sized for."""
    if not final:
        return []
    path, stage, bounces = [], wf.initial, 0
    while True:
        here = wf.stage_index(stage)
        moves = [t for t in wf.transitions_from(stage) if "scheduler" not in t.roles]
        back = next((t for t in moves if wf.stage_index(t.dest) < here), None)
        forward = next((t for t in moves if wf.stage_index(t.dest) > here), None)
        t = back if back is not None and bounces < rounds else forward
        if t is None:
            return path
        bounces += t is back
        path.append((t.trigger, stage, t.dest))
        stage = t.dest


# ---------------------------------------------------------------------------- measurements


def _median(fn: Any, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def _timed_process(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def cold_starts(config: Path, runs: int, folder: Path) -> dict[str, Any]:
    """Each process timed from start to exit. The package is compiled to bytecode first, as pip does
    when it installs the wheel (a source checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise
    compile every module at every start), and each command runs once untimed to warm the disk cache.

    The three commands take turns, run after run, so that the baseline and each command see the
    same load (this machine is shared; a block of baselines then a block of `show` measured the
    load's drift as much as the code); each figure is the median of its runs. The CPU time of each
    process (user + system, from the kernel) is reported beside the wall time: it moves less with
    the load."""
    import compileall

    import ascn_workflow

    compileall.compile_dir(Path(ascn_workflow.__file__).parent, quiet=1)
    minimal = folder / "minimal_click.py"
    minimal.write_text(MINIMAL_CLICK)
    ascn = [sys.executable, "-m", "ascn_workflow"]
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}
    commands = {
        "baseline_click": [sys.executable, str(minimal), "--help"],
        "ascn_help": [*ascn, "--help"],
        "ascn_show": [*ascn, "show", "2018/framework"],
    }
    for warm in commands.values():
        _timed_process(warm, env)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            used = _children_cpu()
            wall[name].append(_timed_process(args, env))
            cpu[name].append(_children_cpu() - used)
    medians = {f"{name}_s": statistics.median(times) for name, times in wall.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpu.items()}
    return {
        **medians,
        "help_ratio": medians["ascn_help_s"] / medians["baseline_click_s"],
        "show_ratio": medians["ascn_show_s"] / medians["baseline_click_s"],
        "show_cpu_ratio": cpu_medians["ascn_show"] / cpu_medians["baseline_click"],
    }


def _children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def status_times(config: Path, runs: int) -> dict[str, Any]:
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}
    ascn = [sys.executable, "-m", "ascn_workflow"]
    return {
        "status_json_s": _median(lambda: _timed_process([*ascn, "status", "--cycle", "all", "--json"], env), runs),
        "status_nomination_overdue_s": _median(
            lambda: _timed_process([*ascn, "status", "--cycle", "all", "--workflow", "nomination", "--overdue"], env),
            runs,
        ),
    }


def advance_throughput(folder: Path, count: int, rounds: int = 5) -> dict[str, Any]:
    """Ours through services.advance, against the same UPDATE + INSERT per transition in sqlite3.

    Each side first runs `count` transitions untimed, so both are timed in the steady state of a
    database in use (write-ahead log at its working size, caches warm), from the same start. Then
    `rounds` rounds of `count` each, the sides alternating, each from the start of the log:
    every commit waits for the disk, whose speed here moves several-fold from minute to minute,
    so the figure is the median of the rounds' ratios (with their spread), not one lucky pair.

    The bare loop (the target's baseline) writes a constant row: it reads nothing, so it knows
    neither the stage, the version nor the previous hash, and hashes nothing. A third side, the
    guarded loop, is what any implementation of an advance must do with the least Python: read
    the actor's roles and the deliverable with its previous hash, UPDATE on the version read
    (Conflict if no row; setting only the columns that change, as the product does), hash the row over the previous hash, INSERT it (unique (deliverable,
    seq), foreign keys on), cancel the reminders of the stage left, commit (durable, as the
    product and the bare loop). `advance_guarded_ratio` is ours against it: what our code costs
    over the work itself.
    """
    from ascn_workflow import services
    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.opening import project_opening
    from ascn_workflow.people import Grant, PersonEntry

    work = folder / "advance"
    work.mkdir()
    app = App(load_config(_config(work, None), explicit=True))
    services.init(app, 2018, datetime(2018, 1, 15, tzinfo=UTC))
    with app.store.transaction() as tx:
        tx.add_people(
            [PersonEntry("officer@asec.example", "ASEC officer", Grant("asec"))],
            "bootstrap",
            datetime(2018, 1, 15, tzinfo=UTC),
        )
        tx.execute("UPDATE city SET joined_cycle = 2018")
        openings = [
            project_opening(app.definitions, 2018, "TH", "bangkok", i, {"title": f"P{i}"})
            for i in range(1, (3 + 3 * rounds) * count + 1)
        ]
        tx.open(openings, datetime(2018, 1, 15, tzinfo=UTC))
    app.store.close()
    ids = [o.id for o in openings]
    now = datetime(2018, 6, 1, tzinfo=UTC)
    app = App(load_config(work / "config.toml", explicit=True))  # as a process that starts now would

    cpu: dict[str, list[float]] = {"ours": [], "limit": [], "guarded": []}  # per second of CPU, no disk waits

    def ours(batch: list[str]) -> float:
        start, used = time.perf_counter(), time.process_time()
        for did in batch:
            services.advance(app, did, "drop", now, "officer@asec.example", note="benchmark")
        cpu["ours"].append(len(batch) / (time.process_time() - used))
        return len(batch) / (time.perf_counter() - start)

    db = sqlite3.connect(work / "ascn.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")

    def limit(batch: list[str]) -> float:
        start, used = time.perf_counter(), time.process_time()
        for did in batch:
            db.execute("BEGIN")
            db.execute(
                "UPDATE deliverable SET stage='dropped', version=version+1, last_event_at=? WHERE id=? AND version=1",
                (now.isoformat(), did),
            )
            db.execute(
                "INSERT INTO history (deliverable_id, seq, trigger, source, dest, actor, role, effective_at, "
                "recorded_at, note, data, waivers, prev_hash, hash) VALUES (?, 1, 'drop', 'proposed', 'dropped', "
                "'officer@asec.example', 'asec', ?, ?, 'benchmark', '{}', '{}', '', 'x')",
                (did, now.isoformat(), now.isoformat()),
            )
            db.execute("COMMIT")
        cpu["limit"].append(len(batch) / (time.process_time() - used))
        return len(batch) / (time.perf_counter() - start)

    guard = sqlite3.connect(work / "ascn.db", isolation_level=None)
    guard.execute("PRAGMA foreign_keys=ON")  # as the product's connection

    def guarded(batch: list[str]) -> float:
        start, used = time.perf_counter(), time.process_time()
        stamp = now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        for did in batch:
            guard.execute("BEGIN IMMEDIATE")
            roles = guard.execute(
                "SELECT role, member_state, city FROM person_role WHERE email = ?", ("officer@asec.example",)
            ).fetchall()
            stage, version, notice_due, prev = guard.execute(
                "SELECT d.stage, d.version, d.notice_due, (SELECT hash FROM history h WHERE h.deliverable_id = d.id "
                "AND h.seq = d.version - 1) FROM deliverable d WHERE d.id = ?",
                (did,),
            ).fetchone()
            if not roles or stage != "proposed":
                raise AssertionError(f"{did}: the guarded loop cannot drop it")
            # as the product: the data it keeps and a notice owed neither before nor after are not set
            clear_notice = "notice_due = NULL, " if notice_due is not None else ""
            if (
                guard.execute(
                    f"UPDATE deliverable SET {clear_notice}stage = 'dropped', deadline = NULL, version = ?, "
                    "last_event_at = ? WHERE id = ? AND version = ?",
                    (version + 1, stamp, did, version),
                ).rowcount
                != 1
            ):
                raise AssertionError(f"{did} changed meanwhile")
            row = {
                "deliverable_id": did, "seq": version, "trigger": "drop", "source": stage, "dest": "dropped",
                "actor": "officer@asec.example", "role": "asec", "effective_at": stamp, "recorded_at": stamp,
                "note": "benchmark", "data": {}, "waivers": {},
            }  # fmt: skip
            content = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            hashed = hashlib.sha256(f"{prev or ''}\n{content}".encode()).hexdigest()
            guard.execute(
                "INSERT INTO history (deliverable_id, seq, trigger, source, dest, actor, role, effective_at, "
                "recorded_at, note, data, waivers, prev_hash, hash, channel, recorded_by) VALUES (?, ?, 'drop', ?, "
                "'dropped', 'officer@asec.example', 'asec', ?, ?, 'benchmark', '{}', '{}', ?, ?, 'cli', NULL)",
                (did, version, stage, stamp, stamp, prev or "", hashed),
            )
            guard.execute(
                "UPDATE reminder SET status = 'cancelled' WHERE deliverable_id = ? AND status = 'planned' "
                "AND entry_version <> ?",
                (did, version + 1),
            )
            guard.execute("COMMIT")
        cpu["guarded"].append(len(batch) / (time.process_time() - used))
        return len(batch) / (time.perf_counter() - start)

    ours(ids[:count])  # warm-up
    limit(ids[count : 2 * count])  # warm-up
    guarded(ids[2 * count : 3 * count])  # warm-up
    ours_rates, limit_rates, guarded_rates = [], [], []
    for r in range(rounds):
        start = (3 + 3 * r) * count
        _checkpoint(db)
        ours_rates.append(ours(ids[start : start + count]))
        _checkpoint(db)
        limit_rates.append(limit(ids[start + count : start + 2 * count]))
        _checkpoint(db)
        guarded_rates.append(guarded(ids[start + 2 * count : start + 3 * count]))
    db.close()
    guard.close()
    ratios = sorted(o / lim for o, lim in zip(ours_rates, limit_rates, strict=True))
    cpu_ratios = [o / lim for o, lim in zip(cpu["ours"][1:], cpu["limit"][1:], strict=True)]  # not the warm-ups
    guarded_ratios = [o / g for o, g in zip(ours_rates, guarded_rates, strict=True)]
    return {
        "advances_per_s": statistics.median(ours_rates),
        "sqlite3_limit_per_s": statistics.median(limit_rates),
        "advance_ratio": statistics.median(ratios),
        "advance_ratio_min": ratios[0],
        "advance_ratio_max": ratios[-1],
        "advance_cpu_ratio": statistics.median(cpu_ratios),  # the same, per CPU second: what the code costs
        "sqlite3_guarded_per_s": statistics.median(guarded_rates),
        "guarded_over_limit_cpu_ratio": statistics.median(
            g / lim for g, lim in zip(cpu["guarded"][1:], cpu["limit"][1:], strict=True)
        ),  # the floor of any advance with the guarantees, per CPU second of the bare loop
        "advance_guarded_ratio": statistics.median(guarded_ratios),
        "advance_guarded_cpu_ratio": statistics.median(
            o / g for o, g in zip(cpu["ours"][1:], cpu["guarded"][1:], strict=True)
        ),
    }


def _checkpoint(db: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the database so that the next loop starts at its beginning
    (the file keeps its working size): neither loop pays for the writes before it."""
    db.execute("PRAGMA wal_checkpoint(RESTART)")


def plant_reminders(config: Path, due: int, *, offset_days: int = 14, add_people: bool = True) -> datetime:
    """`due` reminders due at the returned instant, each its own message, on the last cycle's city
    deliverables (2018 action plans at S, 2025 progress reviews at M and L), after a pass that
    clears other due work. More recipients than one per deliverable are CSCOs added for the purpose
    (`add_people`; a second planting with another offset reuses them)."""
    from sqlalchemy import insert, select

    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.due import run_due_work
    from ascn_workflow.store.migrate import make_engine
    from ascn_workflow.store.schema import TABLES

    deliverable, PersonRow, ReminderRow, RoleRow = (
        TABLES[name] for name in ("deliverable", "person", "reminder", "person_role")
    )
    app = App(load_config(config, explicit=True))
    engine = make_engine(app.config.database_url)
    with engine.begin() as c:
        last = c.execute(select(deliverable.c.cycle).order_by(deliverable.c.cycle.desc()).limit(1)).scalar()
        workflow = "action-plan" if last == 2018 else "progress-review"
        d = deliverable.c
        rows = c.execute(
            select(d.id, d.city, d.member_state, d.deadline)
            .where(d.workflow == workflow, d.cycle == last)
            .order_by(d.id)
        ).all()
    now = min(r.deadline for r in rows) - timedelta(days=5)
    run_due_work(app, now)  # whatever else is due at that instant, untimed
    with engine.begin() as c:
        reminders, people, roles = [], [], []
        for i in range(due):
            did, city, state, deadline = rows[i % len(rows)]
            k = i // len(rows)
            email = f"csco@{city}.example" if k == 0 else f"csco{k}@{city}.example"
            if k:
                people.append(dict(email=email, name=f"CSCO {k} {city}"))
                roles.append(dict(email=email, role="csco", member_state=state, city=city))
            reminders.append(
                dict(
                    deliverable_id=did,
                    entry_version=1,
                    stage="requested",
                    recipient=email,
                    offset_days=offset_days,
                    due_at=now - timedelta(minutes=5),
                    deadline=deadline,
                    status="planned",
                )
            )
            if len(reminders) == 10_000:
                c.execute(insert(ReminderRow), reminders)
                reminders.clear()
        if people and add_people:
            c.execute(insert(PersonRow), people)
            c.execute(insert(RoleRow), roles)
            _record_grants(c, roles, {p["email"]: p["name"] for p in people}, now)
        if reminders:
            c.execute(insert(ReminderRow), reminders)
    engine.dispose()
    return now


def due_pass(config: Path, due: int = 1_000, smtp_port: int | None = None) -> dict[str, Any]:
    """One pass with `due` reminders due (`plant_reminders`), timed in process, against its floor."""
    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.due import run_due_work

    second = smtp_port is not None  # the SMTP pass follows the file pass: other reminders, the same people
    now = plant_reminders(config, due, offset_days=13 if second else 14, add_people=not second)
    app = App(load_config(config, explicit=True))
    start = time.perf_counter()
    report = run_due_work(app, now)
    elapsed = time.perf_counter() - start
    assert len(report.reminders) == due, (len(report.reminders), due)
    assert len(report.delivered) >= due
    per = -(-due // len({r.split(" -> ")[0] for r in report.reminders}))
    result = {"due_pass_s": elapsed, "due_reminders": due, "recipients_per_deliverable": per}
    if smtp_port is not None:
        result.update(_smtp_floor(app, smtp_port, set(report.delivered)))
    else:
        result.update(_file_floor(app, set(report.delivered), config.parent / "floor"))
    result["due_pass_per_s"] = len(report.delivered) / elapsed
    result["due_pass_over_floor"] = result["due_pass_per_s"] / result["floor_per_s"]
    return result


def _sent(app: Any, delivered: set[str]) -> list[Any]:
    with app.store.read() as tx:
        return [m for m in tx.outbox("sent") if m.message_id in delivered]


def _smtp_floor(app: Any, port: int, delivered: set[str]) -> dict[str, Any]:
    """The physical floor: the same rendered messages sent by a bare smtplib loop over one connection."""
    import smtplib

    messages = _sent(app, delivered)
    sender = app.config.mail.sender
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for m in messages:
            smtp.sendmail(sender, list(m.recipients), m.raw.encode("utf-8"))
    return {"floor_per_s": len(messages) / (time.perf_counter() - start)}


def _file_floor(app: Any, delivered: set[str], folder: Path) -> dict[str, Any]:
    """The physical floor of the file backend: the same bytes written by a bare loop, each as durably
    as the file mailer writes it (a temporary file synced to disk, then renamed into place)."""
    messages = _sent(app, delivered)
    folder.mkdir()
    start = time.perf_counter()
    for i, m in enumerate(messages):
        tmp = folder / f"{i}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(m.raw.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{i}.eml")
    return {"floor_per_s": len(messages) / (time.perf_counter() - start)}


def due_pass_smtp(config: Path, due: int = 1_000) -> dict[str, Any]:
    """The same pass delivering to a real SMTP server (aiosmtpd on loopback), against a bare loop."""
    from tests.mailserver import MailServer

    server = MailServer()
    server.start()
    try:
        text = config.read_text().replace('backend = "file"', 'backend = "smtp"')
        smtp_config = config.parent / "config-smtp.toml"
        smtp_config.write_text(text + f'host = "127.0.0.1"\nport = {server.port}\n')
        result = due_pass(smtp_config, due, smtp_port=server.port)
    finally:
        server.stop()
    return {f"smtp_{key}": value for key, value in result.items()}


def scheduler_rss(config: Path) -> dict[str, Any]:
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}  # nothing much due: idle
    proc = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "scheduler", "--interval", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "scheduler started" in line:
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=3)  # idle passes run meanwhile
    status = Path(f"/proc/{proc.pid}/status").read_text()
    peak_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return {"scheduler_idle_peak_rss_mb": peak_kb / 1024}


def row_counts(config: Path) -> dict[str, int]:
    from sqlalchemy import func, select

    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.store.migrate import make_engine
    from ascn_workflow.store.schema import TABLES

    engine = make_engine(App(load_config(config, explicit=True)).config.database_url)
    with engine.connect() as c:
        return {
            name: int(c.execute(select(func.count()).select_from(TABLES[table])).scalar() or 0)
            for name, table in (("cities", "city"), ("deliverables", "deliverable"), ("history_rows", "history"))
        }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


TARGETS = [
    ("help_ratio", "<=", 2.0, "ascn --help vs minimal click"),
    ("show_ratio", "<=", {"sqlite": 2.0, "postgresql": 3.0}, "ascn show vs minimal click"),
    ("advance_ratio", ">=", 1 / 2, "in-process advances vs sqlite3 limit"),
    ("due_pass_L_over_S", "<=", 1.5, "due-work pass at L vs S"),
    ("smtp_due_pass_over_floor", ">=", 0.5, "due pass vs bare smtplib loop, messages/s"),
    ("status_json_s", "<", 1.0, "status --json at M (s)"),
    ("scheduler_idle_peak_rss_mb", "<", 150.0, "scheduler idle RSS at M (MB)"),
]


@contextlib.contextmanager
def fresh_database(server_url: str | None) -> Any:
    """A new database on the server for this run (dropped afterwards); None for the embedded SQLite."""
    if server_url is None:
        yield None
        return
    from tests.postgres import fresh_database as on_server

    with on_server(server_url) as url:
        yield url


PARTS = ("starts", "status", "advances", "scheduler", "due")  # what --only may name


def run(
    size: str, runs: int, server_url: str | None, with_due_baseline: bool = True, only: frozenset[str] = frozenset()
) -> dict[str, Any]:
    with fresh_database(server_url) as db_url:
        return _run(size, runs, db_url, with_due_baseline, only or frozenset(PARTS))


def _run(
    size: str, runs: int, db_url: str | None, with_due_baseline: bool = True, only: frozenset[str] = frozenset(PARTS)
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "size": size,
        "runs": runs,
        "backend": "postgresql" if db_url else "sqlite",
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="ascn-bench-") as tmp:
        folder = Path(tmp)
        built = time.perf_counter()
        config = build(folder / size, size, db_url) if (folder / size).mkdir() is None else None
        results["build_s"] = time.perf_counter() - built
        assert config is not None
        results.update(row_counts(config))
        if "starts" in only:
            results.update(cold_starts(config, runs, folder))
        if "status" in only:
            results.update(status_times(config, runs))
        if db_url is None and "advances" in only:
            results.update(advance_throughput(folder, 200 if size == "S" else 300))
        if "scheduler" in only:
            results.update(scheduler_rss(config))
        if "due" not in only:
            return results
        results.update(due_pass(config))
        results.update(due_pass_smtp(config))
        if size != "S" and with_due_baseline:
            (folder / "S").mkdir()
            small = build(folder / "S", "S", None)
            results["due_pass_S_s"] = due_pass(small)["due_pass_s"]
            results[f"due_pass_{size}_over_S"] = results["due_pass_s"] / results["due_pass_S_s"]
            if size == "L":
                results["due_pass_L_over_S"] = results["due_pass_L_over_S"]
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        f"size {results['size']} ({results['backend']}, median of {results['runs']}), "
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}",
        "",
    ]
    lines.append(
        f"{results.get('cities')} cities, {results.get('deliverables')} deliverables, "
        f"{results.get('history_rows')} history rows"
    )
    lines.append(f"{'measure':<44} {'value':>12}")
    for key, value in results.items():
        if isinstance(value, float):
            lines.append(f"{key:<44} {value:>12.4f}")
    lines.append("")
    for key, op, bounds, label in TARGETS:
        if key in results:
            value = results[key]
            bound = bounds[results["backend"]] if isinstance(bounds, dict) else bounds  # per backend
            ok = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
            lines.append(f"{'MET ' if ok else 'MISS'} {label}: {value:.3f} {op} {bound:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--runs", type=int, default=5, help="repetitions per timing (median)")
    parser.add_argument("--json", type=Path, help="write the figures, ratios and machine description here")
    parser.add_argument("--db-url", help="benchmark on this PostgreSQL server (a fresh database there)")
    parser.add_argument("--only", help=f"measure only these parts, comma-separated (default all): {','.join(PARTS)}")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    only = frozenset(part.strip() for part in (args.only or "").split(",") if part.strip())
    if only - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(only - set(PARTS)))}; parts: {', '.join(PARTS)}")
    results = run(args.size, args.runs, args.db_url, only=only)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _record_grants(c: Any, roles: list[dict[str, Any]], names: dict[str, str], at: datetime) -> None:
    """Grants inserted in bulk are recorded in the directory's chain as `people add` would record
    them (actor `benchmark`), so that `audit verify` on a built database is clean."""
    from sqlalchemy import insert, select

    from ascn_workflow.audit import directory_digest
    from ascn_workflow.store.schema import TABLES

    table = TABLES["directory_change"]
    last = c.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)).first()
    seq, prev = (int(last[0]), str(last[1])) if last else (0, "")
    rows = []
    for role in roles:
        seq += 1
        change = {
            "seq": seq,
            "at": at,
            "actor": "benchmark",
            "email": role["email"],
            "name": names[role["email"]],
            "role": role["role"],
            "member_state": role["member_state"],
            "city": role["city"],
        }
        value = directory_digest(change, prev)
        rows.append({**change, "prev_hash": prev, "hash": value})
        prev = value
    if rows:
        c.execute(insert(table), rows)


if __name__ == "__main__":
    if shutil.which(sys.executable) is None:
        sys.exit("no Python")
    main()
