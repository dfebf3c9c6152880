"""The use cases through their Python API (no CLI): what `ascn` and the portal both call.

CLI tests check parsing, exit codes and rendering; these check the services and views themselves,
on both backends, from the initialised 2018 database (`ready`).
"""

from __future__ import annotations

from typing import Any

import pytest

from ascn_workflow import services, views
from ascn_workflow.errors import Conflict, Denied, NotFound, Refused

from .conftest import ASEC, NR, SHEPHERD, Ascn, nomination, utc

NOW = utc("2018-03-10T10:00+08:00")


def test_an_advance_returns_the_new_view_and_show_reads_it_back(ready: Ascn) -> None:
    app = ready.app()
    view = services.advance(app, "2018/framework", "circulate", NOW, SHEPHERD)
    assert view["stage"] == "circulated" and view["version"] == 2
    assert view["event"]["from_stage"] == "drafting" and view["event"]["actor"] == SHEPHERD
    shown = views.show_deliverable(app, "2018/framework", NOW, SHEPHERD)
    assert shown["stage"] == "circulated" and [e["to_stage"] for e in shown["history"]] == ["circulated"]
    assert shown["allowed_triggers"] == [o["trigger"] for o in shown["next"] if o["permitted"] and o["ready"]]


@pytest.mark.parametrize(
    ("deliverable", "trigger", "actor", "error"),
    [
        ("2018/nope", "circulate", SHEPHERD, NotFound),
        ("2018/framework", "endorse", SHEPHERD, Refused),
        ("2018/framework", "circulate", NR["TH"], Denied),
        ("2018/framework", "circulate", "stranger@example.org", Denied),
    ],
)
def test_an_advance_that_cannot_happen_changes_nothing(
    ready: Ascn, deliverable: str, trigger: str, actor: str, error: type[Exception]
) -> None:
    app = ready.app()
    with pytest.raises(error):
        services.advance(app, deliverable, trigger, NOW, actor)
    assert views.show_deliverable(app, "2018/framework", NOW)["version"] == 1


def test_an_accepted_nomination_opens_the_cities_deliverables_and_plans_their_reminders(ready: Ascn) -> None:
    app = ready.app()
    path = ready.folder / "th.toml"
    path.write_text(nomination("TH", ["Bangkok", "Phuket"], NR["TH"]), encoding="utf-8")
    services.nominate(app, "TH", path, utc("2018-02-20T10:00+07:00"), NR["TH"])
    accepted = services.advance(app, "2018/nomination/th", "accept", utc("2018-02-21T10:00+07:00"), ASEC)
    assert set(accepted["opened"]) >= {"2018/action-plan/bangkok", "2018/action-plan/phuket"}
    plan = views.show_deliverable(app, "2018/action-plan/phuket", utc("2018-02-21T11:00+07:00"))
    assert {r["recipient"] for r in plan["reminders"]} >= {"csco@phuket.example"}
    cscos = services.people_list(app, role="csco", member_state="TH")
    assert {p["city"] for p in cscos} == {"bangkok", "phuket"}


def test_status_filters_are_the_store_s_not_the_view_s(ready: Ascn) -> None:
    app = ready.app()
    every = views.status(app, NOW)
    nominations = views.status(app, NOW, workflow="nomination")
    overdue = views.status(app, utc("2018-04-01T00:00+08:00"), overdue=True)
    assert nominations and {r["workflow"] for r in nominations} == {"nomination"}
    assert len(nominations) < len(every)
    assert all(r["overdue"] for r in overdue) and "2018/framework" in {r["id"] for r in overdue}


def test_the_outbox_lists_what_a_due_pass_queued(ready: Ascn) -> None:
    from ascn_workflow.due import run_due_work

    app = ready.app()
    report = run_due_work(app, utc("2018-02-14T12:00+08:00"))
    listed: list[dict[str, Any]] = services.outbox(app)
    assert {m["message_id"] for m in listed} == set(report.delivered) and report.delivered
    assert {m["status"] for m in listed} == {"sent"}


def test_a_stale_transaction_loses_with_conflict(ready: Ascn) -> None:
    """Two officers read version 1; the second write is refused and the first stands."""
    from ascn_workflow.engine import Request, fire

    app = ready.app()
    with app.store.read() as tx:
        row, actor = tx.deliverable("2018/framework"), tx.actor(SHEPHERD)
    assert actor is not None
    outcome = fire(app.definitions, row, Request("circulate", actor, NOW), lambda _: None)
    services.advance(app, "2018/framework", "circulate", NOW, SHEPHERD)
    with pytest.raises(Conflict), app.store.transaction() as tx:
        tx.apply(outcome)
    assert len(views.history(app, "2018/framework")) == 1
