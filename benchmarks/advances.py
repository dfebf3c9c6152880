"""In-process advances per second (services.advance), against a bare sqlite3 loop and a guarded one (run.py --only advances)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.network import _config


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
