"""One Chair per cycle, for permissions and for mail alike (`engine.chair_seat`): whoever holds an
explicit `chair` grant for the chairing member state, else that state's National Representative."""

from __future__ import annotations

from ascn_workflow.engine import chair_seat, in_cycle
from ascn_workflow.people import Actor, Grant
from ascn_workflow.reminding import recipients
from ascn_workflow.spec import Definitions

from .conftest import ASEC, CHAIR, NR, PEOPLE, Ascn

SG_NR = Actor(NR["SG"], (Grant("nr", "SG"),))
EXPLICIT = Actor(CHAIR, (Grant("chair", "SG"),))
REVISE_EARLY = "2018-05-01T10:00+08:00"  # before the SCGW convened: rule scgw-convened fails


def _is_chair(defs: Definitions, actor: Actor, chairs: set[str]) -> bool:
    return any(g.role == "chair" for g in in_cycle(defs, actor, 2018, chairs).grants)


def test_the_seat_goes_to_an_explicit_chair_else_to_the_chairing_states_nr(defs: Definitions) -> None:
    assert defs.chair(2018) == "SG"
    assert chair_seat(defs, 2018, set()) == Grant("nr", "SG")
    assert chair_seat(defs, 2018, {"SG"}) == Grant("chair", "SG")
    assert chair_seat(defs, 2018, {"TH"}) == Grant("nr", "SG")  # a chair grant of another cycle's state
    assert _is_chair(defs, SG_NR, set()) and not _is_chair(defs, SG_NR, {"SG"})
    assert _is_chair(defs, EXPLICIT, set()) and _is_chair(defs, EXPLICIT, {"SG"})
    assert not _is_chair(defs, Actor(NR["TH"], (Grant("nr", "TH"),)), set())
    # The NR keeps their own role either way.
    assert Grant("nr", "SG") in in_cycle(defs, SG_NR, 2018, {"SG"}).grants


def _revise(a: Ascn, actor: str) -> object:
    return a.run(
        "advance", "2018/framework", "revise", "--waive", "scgw-convened", "--reason", "agreed", "--json",
        actor=actor, now=REVISE_EARLY,
    )  # fmt: skip


def _mailed_chairs(a: Ascn) -> set[str]:
    """Who the mail labels Chair of 2018: the recipients resolved for role `chair` of a network deliverable."""
    app = a.app()
    with app.store.transaction(write=False) as tx:
        row = tx.deliverable("2018/framework")
        return {r.email for r in recipients(app.definitions, tx, row, ["chair"])}


def test_beside_an_explicit_chair_the_chairing_states_nr_may_not_act_as_chair(ready: Ascn) -> None:
    a = ready
    a.ok("advance", "2018/framework", "circulate", actor=ASEC, now="2018-03-20T10:00+08:00")
    assert _mailed_chairs(a) == {CHAIR}

    waived = _revise(a, NR["SG"])
    assert waived.exit_code == 5, waived.output
    assert "may not waive rules" in waived.stderr
    moved = a.run("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=NR["SG"], now=REVISE_EARLY)
    assert moved.exit_code == 5 and "Chair of 2018" in moved.stderr
    shown = a.json("show", "2018/framework", actor=NR["SG"], now=REVISE_EARLY)
    assert all(not o["permitted"] for o in shown["next"])

    done = _revise(a, CHAIR)
    assert done.exit_code == 0, done.output


def test_without_an_explicit_chair_the_chairing_states_nr_is_the_chair(ascn: Ascn) -> None:
    a = ascn
    a.ok("init")
    without_chair = PEOPLE.replace('role = "chair"', 'role = "shepherd"').replace(CHAIR, "second.shepherd@mnd.gov.sg")
    a.ok("people", "import", a.file("people.toml", without_chair))
    a.ok("advance", "2018/framework", "circulate", actor=ASEC, now="2018-03-20T10:00+08:00")
    assert _mailed_chairs(a) == {NR["SG"]}

    done = _revise(a, NR["SG"])
    assert done.exit_code == 0, done.output
    a.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=NR["SG"], now=REVISE_EARLY)
    # Thailand's NR is no Chair in a cycle Singapore chairs.
    refused = a.run("calendar", "set", "scgw", "2018-05-30", "--reason", "x", actor=NR["TH"], now=REVISE_EARLY)
    assert refused.exit_code == 5


def test_the_portal_follows_the_same_seat(ready: Ascn) -> None:
    """On the web too, beside an explicit Chair the chairing state's NR sees no network deliverable
    (403) while the Chair does; the NR's own deliverables stay theirs."""
    from ascn_workflow.dates import parse_instant

    from .portal import Clock, Portal, free_port
    from .test_portal_attacks import signed_in

    portal = Portal(ready, Clock(parse_instant("2018-03-21T10:00+08:00")), free_port())
    portal.start()
    try:
        with signed_in(portal, NR["SG"]) as client:
            assert client.get("/deliverables/2018/framework").status_code == 403
            assert client.get("/deliverables/2018/nomination/sg").status_code == 200
        with signed_in(portal, CHAIR) as client:
            assert client.get("/deliverables/2018/framework").status_code == 200
    finally:
        portal.stop()
