"""'My work' reads only the stages a person is responsible for (through the stage index); it must
list exactly what a scan of every deliverable in their scope would, on both backends."""

from __future__ import annotations

from ascn_workflow.dates import parse_instant
from ascn_workflow.engine import in_cycle
from ascn_workflow.web.work import my_work

from .conftest import ASEC, CHAIR, NR, SHEPHERD, Ascn, join


def _scanned(app, email: str) -> list[str]:  # type: ignore[no-untyped-def]
    defs = app.definitions
    with app.store.transaction(write=False) as tx:
        actor = tx.actor(email)
        rows = tx.deliverables()
        chairs = tx.chair_grants()
    found = []
    for row in rows:
        workflow = defs.workflow(row.workflow)
        if not workflow.transitions_from(row.stage):
            continue
        responsible = workflow.stage(row.stage).responsible
        acting = in_cycle(defs, actor, row.cycle, chairs)
        if any(g.role in responsible and g.covers(row.member_state, row.city) for g in acting.grants):
            found.append(row.id)
    return sorted(found)


def test_my_work_is_what_a_full_scan_finds(ready: Ascn) -> None:
    join(ready, "TH", ["Bangkok", "Phuket"])
    join(ready, "SG", ["Singapore"])
    app = ready.app()
    now = parse_instant("2018-05-22T10:00+08:00")
    people = [ASEC, SHEPHERD, CHAIR, NR["TH"], NR["SG"], NR["VN"], "csco@bangkok.example", "csco@singapore.example"]
    for email in people:
        listed = sorted(i["id"] for i in my_work(app, email, now, "Asia/Singapore")["items"])
        assert listed == _scanned(app, email), email
    assert "2018/action-plan/bangkok" in _scanned(app, "csco@bangkok.example")
    assert "2018/action-plan/phuket" not in _scanned(app, "csco@bangkok.example")


def test_my_work_points_a_national_representative_to_the_nomination_form(ready: Ascn) -> None:
    """A nomination is submitted with its form, so 'My work' links there instead of saying
    'nothing yet' (the rules that fail on an empty nomination are what the form fills)."""
    app = ready.app()
    now = parse_instant("2018-02-01T10:00+07:00")
    items = {i["id"]: i for i in my_work(app, NR["TH"], now, "Asia/Bangkok")["items"]}
    assert items["2018/nomination/th"]["nominate_url"] == "/nominate/th"
    join(ready, "TH", ["Bangkok"])
    items = {i["id"]: i for i in my_work(app, ASEC, parse_instant("2018-03-01T10:00+07:00"), "Asia/Bangkok")["items"]}
    assert all(i["nominate_url"] is None for i in items.values() if not i["id"].startswith("2018/nomination/"))
