"""The synthetic ASEAN network the benchmarks measure, written in bulk (run.py, due_pass.py, portal_load.py).

Sizes: S is the 2018 network (26 cities, 1 cycle); M 1,000 cities over 8 cycles (about 20,000
deliverables, 200,000 history rows); L 10,000 cities over 8 cycles (about 200,000 deliverables, two
million history rows). Each city has its yearly deliverables and every other city a project; the
finished ones went back and forth 0-18 times on the way (plans sent back, pairings undone).
Everything the benchmarks then measure goes through the real CLI or the real services.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"S": (26, 1), "M": (1_000, 8), "L": (10_000, 8)}
NOW = datetime(2025, 5, 20, 4, 0, tzinfo=UTC)  # during the 2025 cycle, before its progress reviews are due


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


@contextlib.contextmanager
def fresh_database(server_url: str | None) -> Any:
    """A new database on the server for this run (dropped afterwards); None for the embedded SQLite."""
    if server_url is None:
        yield None
        return
    from tests.postgres import fresh_database as on_server

    with on_server(server_url) as url:
        yield url
