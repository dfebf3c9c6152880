"""Concurrent advances: separate processes on one SQLite file; exactly one wins a race, no lost update."""

from __future__ import annotations

import subprocess

import pytest

from ascn_workflow.engine import Request, fire
from ascn_workflow.errors import Conflict
from ascn_workflow.people import Actor, Grant

from .conftest import ASEC, SHEPHERD, Ascn, spawn_ascn, utc


def _spawn(a: Ascn, *args: str, actor: str) -> subprocess.Popen[str]:
    return spawn_ascn(a, *args, now="2018-05-22T09:00+08:00", actor=actor)


@pytest.mark.slow
def test_processes_racing_on_one_deliverable_have_exactly_one_winner(ready: Ascn) -> None:
    racers = [_spawn(ready, "advance", "2018/scgw", "convene", actor=SHEPHERD) for _ in range(6)]
    bystanders = [
        _spawn(ready, "advance", "2018/framework", "circulate", actor=ASEC),
        _spawn(ready, "advance", "2018/annual-meeting", "convene", actor=ASEC),
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in racers]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in results)
    assert codes.count(0) == 1, results
    assert set(codes) <= {0, 4, 6}, results
    for code, err in results:
        if code:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert [p.wait(timeout=120) for p in bystanders] == [0, 0]
    assert len(ready.json("history", "2018/scgw")) == 1
    assert ready.json("show", "2018/scgw")["version"] == 2


def test_a_stale_write_is_a_conflict_not_a_lost_update(ready: Ascn) -> None:
    """Two officers read the same version; the second write fails with Conflict (exit 6)."""
    app = ready.app()
    store, defs = app.store, app.definitions
    shepherd = Actor(SHEPHERD, (Grant("shepherd"),))
    now = utc("2018-05-22T09:00+08:00")
    with store.read() as t1:
        first = fire(defs, t1.deliverable("2018/scgw"), Request("convene", shepherd, now), t1.stage)
    with store.read() as t2:
        second = fire(defs, t2.deliverable("2018/scgw"), Request("convene", shepherd, now), t2.stage)
    with store.transaction() as t3:
        t3.apply(first)
    with pytest.raises(Conflict) as caught, store.transaction() as t4:
        t4.apply(second)
    assert caught.value.exit_code == 6
    history = ready.json("history", "2018/scgw")
    assert len(history) == 1 and ready.json("show", "2018/scgw")["version"] == 2
