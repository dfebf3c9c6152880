"""Issue 16 item 2: racing processes never get a false success, and never a traceback.

Real processes on one database (SQLite file or PostgreSQL): `project add` for one city allocates
each number once (every success is a project that exists, no id printed twice); `cycle open` and
`people add` racing on the same rows are idempotent or exit 6 with one line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import ASEC, NR, Ascn, join, nomination, spawn_ascn, write_config

RACERS = 10


def _finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for p in processes:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    for code, _, err in results:
        assert code in (0, 6), err
        if code:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "Integrity" not in err, err
    return results


@pytest.mark.slow
def test_racing_project_adds_never_report_a_project_they_lost(ready: Ascn) -> None:
    join(ready, "TH", ["Bangkok"])
    ready.ok("cycle", "open", "2019", now="2019-01-05T09:00+07:00")
    racers = [
        spawn_ascn(
            ready, "project", "add", "bangkok", "--title", f"P{i}", "--json", now="2019-02-01T09:00+07:00", actor=ASEC
        )
        for i in range(RACERS)
    ]
    results = _finish(racers)
    said = [json.loads(out)["id"] for code, out, _ in results if code == 0]
    assert len(said) == len(set(said)), said  # no id printed twice
    stored = {p["id"]: p["title"] for p in ready.json("project", "list", "--city", "bangkok")}
    assert sorted(said) == sorted(stored), (said, stored)  # every success exists, and nothing else
    titles = {json.loads(out)["id"]: json.loads(out)["title"] for code, out, _ in results if code == 0}
    assert titles == stored  # each id holds the project that was told it


def _add_focal_point(a: Ascn, email: str, name: str, *, now: str) -> subprocess.Popen[str]:
    """`ascn people add` of a Cambodian focal point by the ASEC officer, started, not waited for."""
    args = ("people", "add", "--email", email, "--name", name, "--role", "focal_point", "--member-state", "KH")
    return spawn_ascn(a, *args, now=now, actor=ASEC)


@pytest.mark.slow
def test_racing_cycle_opens_and_people_adds_are_idempotent_or_conflicts(ready: Ascn) -> None:
    opens = [spawn_ascn(ready, "cycle", "open", "2019", now="2019-01-05T09:00+07:00") for _ in range(RACERS // 2)]
    adds = [_add_focal_point(ready, "fp@kh.example", "Sok", now="2019-01-05T09:00+07:00") for _ in range(RACERS // 2)]
    _finish(opens + adds)
    cycles = {c["cycle"]: c for c in ready.json("cycle", "list")}
    assert cycles[2019]["opened"] is True
    fp = [p for p in ready.json("people", "list", "--member-state", "KH") if p["email"] == "fp@kh.example"]
    assert len(fp) == 1
    assert ready.json("audit", "verify")["problems"] == []


def test_racing_directory_changes_take_turns_and_all_succeed(ready: Ascn) -> None:
    """Ten officers adding ten different people at once: each appends to the directory's hash
    chain after its last link. On PostgreSQL two of eight used to exit 6 ('run it again') after
    their retries; directory changes now take turns (an advisory lock), as on SQLite."""
    adds = [
        _add_focal_point(ready, f"fp{i}@kh.example", f"Focal point {i}", now="2018-01-20T09:00+07:00")
        for i in range(RACERS)
    ]
    results = _finish(adds)
    assert [code for code, _, _ in results] == [0] * RACERS, [err for _, _, err in results]
    added = {p["email"] for p in ready.json("people", "list", "--member-state", "KH")}
    assert {f"fp{i}@kh.example" for i in range(RACERS)} <= added
    assert ready.json("audit", "verify")["problems"] == []


@pytest.mark.slow
def test_racing_inits_on_a_fresh_database_all_succeed_or_conflict(tmp_path: Path, db_url: str, backend: str) -> None:
    """`init` is idempotent: ten at once on a fresh database. On SQLite the schema is created under
    one write lock, so the others wait and find it (all exit 0); PostgreSQL's losers may exit 6."""
    a = Ascn(tmp_path, write_config(tmp_path, db_url))
    results = _finish([spawn_ascn(a, "init", "--json", now="2018-01-15T09:00+08:00") for _ in range(RACERS)])
    if backend == "sqlite":
        assert [code for code, _, _ in results] == [0] * RACERS, [err for _, _, err in results]
    assert any(code == 0 for code, _, _ in results)
    opened = [json.loads(out)["opened"] for code, out, _ in results if code == 0]
    assert sorted(set().union(*opened)) == sorted(d["id"] for d in a.json("status"))  # each opened once
    a.ok("init")  # and again: nothing to do
    assert a.ok("audit", "verify").exit_code == 0


def test_a_migration_on_postgresql_waits_for_the_one_under_way(tmp_path: Path, postgres_admin_url: str) -> None:
    """Two `ascn init` on a fresh PostgreSQL database both created tables and the second failed
    with an internal error ('relation "cycle" already exists'; once in CI). A migration now takes
    the advisory lock `store.migrate.MIGRATION_LOCK` first: held here, as by a migration under
    way, `init` is seen waiting on it in pg_locks, and finishes once it is released."""
    import time

    import psycopg

    from ascn_workflow.store.migrate import MIGRATION_LOCK

    from .postgres import fresh_database

    with fresh_database(postgres_admin_url) as url:
        a = Ascn(tmp_path, write_config(tmp_path, url))
        holder = psycopg.connect("postgresql://" + url.split("://", 1)[1], autocommit=True)
        try:
            holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            init = spawn_ascn(a, "init", "--json", now="2018-01-15T09:00+08:00")
            deadline = time.monotonic() + 120
            waiting = 0
            while not waiting and init.poll() is None and time.monotonic() < deadline:
                row = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
                    (MIGRATION_LOCK,),
                ).fetchone()
                waiting = row[0] if row else 0
                time.sleep(0.05)  # polling the server's lock table, not a clock
            assert waiting == 1 and init.poll() is None, init.communicate()
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            out, err = init.communicate(timeout=120)
            assert init.returncode == 0, err
        finally:
            holder.close()
        assert json.loads(out)["opened"] and a.ok("audit", "verify").exit_code == 0


@pytest.mark.parametrize("backend", ["postgresql"])  # on SQLite every write already takes its turn
def test_an_acceptance_takes_the_directorys_turn_before_touching_a_row(ready: Ascn) -> None:
    """An acceptance registers its NR and CSCOs: a directory change, which takes the directory's
    turn (an advisory lock held to the commit). It used to take the turn only then, after it had
    already updated its deliverable, its reminders and its cities; a directory change under way
    (`people add`, which re-plans every open deliverable's reminders while it holds the turn) that
    needed one of those rows would wait for the acceptance while the acceptance waited for it:
    PostgreSQL breaks such a deadlock by failing one side (exit 6). Now the acceptance waits for
    the turn before it touches anything, so it holds no row a directory change could need."""
    import time
    import tomllib

    import psycopg

    from ascn_workflow.store.tx_people import DIRECTORY_LOCK

    text = nomination("TH", ["Bangkok", "Phuket"], NR["TH"])
    ready.ok("nominate", "TH", "--file", ready.file("th.toml", text), actor=NR["TH"], now="2018-02-20T10:00+07:00")
    url = tomllib.loads(ready.config.read_text())["database"]["url"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as directory_change:  # stands for a `people add` under way
        directory_change.execute("SELECT pg_advisory_xact_lock(%s)", (DIRECTORY_LOCK,))
        accept = spawn_ascn(ready, "advance", "2018/nomination/th", "accept", now="2018-02-21T10:00+07:00", actor=ASEC)
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:  # until the acceptance waits for the turn
            waiting = directory_change.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if waiting and waiting[0]:
                break
            assert accept.poll() is None, accept.communicate()
            time.sleep(0.02)
        else:
            raise AssertionError("the acceptance never waited for the directory's turn")
        for table, key, value in (("deliverable", "id", "2018/nomination/th"), ("city", "slug", "bangkok")):
            directory_change.execute(f"SELECT 1 FROM {table} WHERE {key} = %s FOR UPDATE NOWAIT", (value,))
    _, err = accept.communicate(timeout=120)  # the turn is released with the commit above
    assert accept.returncode == 0, err
    assert ready.json("show", "2018/nomination/th")["stage"] == "accepted"
    assert ready.json("audit", "verify")["problems"] == []
