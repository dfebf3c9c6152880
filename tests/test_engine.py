"""The pure core: permissions, scope, rules, waivers and `--at`, with no database and no clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ascn_workflow.deliverable import Deliverable
from ascn_workflow.engine import Request, fire, options
from ascn_workflow.errors import BadInput, Denied, Refused
from ascn_workflow.machine import machine_for
from ascn_workflow.people import SCHEDULER, Actor, Grant
from ascn_workflow.spec import Definitions

from .conftest import utc

NOW = utc("2018-02-20T09:00+08:00")
ASEC = Actor("asec@x.example", (Grant("asec"),))
SHEPHERD = Actor("shepherd@x.example", (Grant("shepherd"),))
CHAIR = Actor("chair@x.example", (Grant("chair", "SG"),))
NR_TH = Actor("nr@th.example", (Grant("nr", "TH"),))
NR_VN = Actor("nr@vn.example", (Grant("nr", "VN"),))
CSCO_DN = Actor("csco@da-nang.example", (Grant("csco", "VN", "da-nang"),))

TH_NOMINATION = {
    "national_representative": {"name": "NR", "email": "nr@th.example"},
    "cities": [
        {"slug": s, "name": s, "csco": {"name": "C", "email": f"c@{s}.example"}}
        for s in ("bangkok", "chonburi", "phuket")
    ],
}


def nomination(code: str = "TH", stage: str = "awaiting", data: dict | None = None, **kw: object) -> Deliverable:
    return Deliverable(
        f"2018/nomination/{code.lower()}", 2018, "nomination", stage, 1, member_state=code, data=data or {}, **kw
    )  # type: ignore[arg-type]


def no_stage(_id: str) -> None:
    return None


def test_submit_by_own_nr_moves_stage_and_records_event(defs: Definitions) -> None:
    out = fire(defs, nomination(), Request("submit", NR_TH, NOW, data=TH_NOMINATION), no_stage)
    assert out.event.source == "awaiting" and out.event.dest == "submitted"
    assert out.event.actor == "nr@th.example" and out.event.role == "nr"
    assert out.event.effective_at == NOW and out.deadline is None
    assert out.data["cities"][0]["slug"] == "bangkok"


def test_nr_of_another_state_is_denied(defs: Definitions) -> None:
    with pytest.raises(Denied, match="nr of VN"):
        fire(defs, nomination("VN"), Request("submit", NR_TH, NOW, data=TH_NOMINATION), no_stage)


def test_csco_acts_only_on_own_city(defs: Definitions) -> None:
    own = Deliverable("2018/action-plan/da-nang", 2018, "action-plan", "not_started", 1, "VN", "da-nang")
    other = Deliverable("2018/action-plan/ha-noi", 2018, "action-plan", "not_started", 1, "VN", "ha-noi")
    assert fire(defs, own, Request("start", CSCO_DN, NOW), no_stage).event.dest == "drafting"
    with pytest.raises(Denied):
        fire(defs, other, Request("start", CSCO_DN, NOW), no_stage)


def test_trigger_not_allowed_from_stage_names_allowed_triggers(defs: Definitions) -> None:
    with pytest.raises(Refused) as caught:
        fire(defs, nomination(stage="submitted"), Request("submit", NR_TH, NOW), no_stage)
    assert "return_for_correction" in caught.value.message and "accept" in caught.value.message
    assert caught.value.exit_code == 4


@pytest.mark.parametrize(
    ("cities", "rule"),
    [
        (["bangkok", "chonburi", "phuket", "pattaya"], "max-cities"),
        (["chonburi", "phuket"], "capital-included"),
    ],
)
def test_nomination_rules_refuse_and_name_themselves(defs: Definitions, cities: list[str], rule: str) -> None:
    data = {**TH_NOMINATION, "cities": [{"slug": s, "name": s, "csco": {"email": f"c@{s}.example"}} for s in cities]}
    with pytest.raises(Refused) as caught:
        fire(defs, nomination(), Request("submit", NR_TH, NOW, data=data), no_stage)
    assert caught.value.context["rule"] == rule
    assert rule in caught.value.message


def test_csco_and_nr_rules(defs: Definitions) -> None:
    data = {"cities": [{"slug": "bangkok", "name": "Bangkok", "csco": None}]}
    with pytest.raises(Refused) as caught:
        fire(defs, nomination(), Request("submit", NR_TH, NOW, data=data), no_stage)
    assert caught.value.context["rules"] == ["csco-per-city", "nr-named"]


def test_chair_waives_a_rule_with_reason_recorded(defs: Definitions) -> None:
    four = {
        **TH_NOMINATION,
        "cities": [*TH_NOMINATION["cities"], {"slug": "x", "name": "X", "csco": {"email": "x@x.example"}}],
    }
    request = Request("submit", CHAIR, NOW, data=four, waivers={"max-cities": "pilot year"})
    out = fire(defs, nomination(), request, no_stage)
    assert out.event.dest == "submitted" and out.event.waivers == {"max-cities": "pilot year"}
    assert out.event.role == "chair"


def test_only_chair_or_shepherd_may_waive(defs: Definitions) -> None:
    with pytest.raises(Denied, match="only the Chair or the shepherd"):
        fire(defs, nomination(), Request("submit", ASEC, NOW, waivers={"max-cities": "x"}), no_stage)


def test_waiving_a_rule_the_transition_lacks_is_bad_input(defs: Definitions) -> None:
    with pytest.raises(BadInput, match="no rule 'scgw-convened'"):
        fire(defs, nomination(), Request("submit", SHEPHERD, NOW, waivers={"scgw-convened": "x"}), no_stage)


def test_milestone_rule_uses_effective_instant(defs: Definitions) -> None:
    snap = Deliverable("2018/framework", 2018, "framework", "endorsed_by_ascn", 4, data={"version": "ab" * 32})
    with pytest.raises(Refused, match="on-or-after-jcm"):
        fire(defs, snap, Request("jcm_endorse", ASEC, utc("2018-10-14T12:00+08:00")), no_stage)
    out = fire(defs, snap, Request("jcm_endorse", ASEC, utc("2018-10-16T12:00+08:00")), no_stage)
    assert out.event.dest == "endorsed_by_jcm"


def test_cross_deliverable_rule(defs: Definitions) -> None:
    snap = Deliverable("2018/framework", 2018, "framework", "circulated", 2)
    stages = {"2018/scgw": "planned"}
    with pytest.raises(Refused, match="2018/scgw must be convened or later"):
        fire(defs, snap, Request("revise", SHEPHERD, NOW), stages.get)
    stages["2018/scgw"] = "concluded"
    assert fire(defs, snap, Request("revise", SHEPHERD, NOW), stages.get).event.dest == "revised"


def test_at_in_future_or_before_last_event_is_bad_input(defs: Definitions) -> None:
    with pytest.raises(BadInput, match="in the future"):
        fire(
            defs, nomination(data=TH_NOMINATION), Request("submit", NR_TH, NOW, at=NOW + timedelta(seconds=1)), no_stage
        )
    snap = nomination(stage="submitted", last_event_at=NOW - timedelta(days=1))
    with pytest.raises(BadInput, match="before the last event"):
        fire(defs, snap, Request("accept", ASEC, NOW, at=NOW - timedelta(days=2)), no_stage)
    out = fire(defs, snap, Request("accept", ASEC, NOW, at=NOW - timedelta(hours=1)), no_stage)
    assert out.event.effective_at == NOW - timedelta(hours=1) and out.event.recorded_at == NOW


def test_note_and_data_requirements(defs: Definitions) -> None:
    with pytest.raises(BadInput, match="--note"):
        fire(defs, nomination(stage="submitted"), Request("return_for_correction", ASEC, NOW), no_stage)
    twin = Deliverable("2018/twinning/da-nang", 2018, "twinning", "unpaired", 1, "VN", "da-nang")
    with pytest.raises(BadInput, match="partner=VALUE"):
        fire(defs, twin, Request("match", SHEPHERD, NOW), no_stage)
    matched = fire(defs, twin, Request("match", SHEPHERD, NOW, data={"partner": "Japan"}), no_stage)
    assert matched.data == {"partner": "Japan"}
    again = Deliverable(twin.id, 2018, "twinning", "matched", 2, "VN", "da-nang", data=matched.data)
    assert "partner" not in fire(defs, again, Request("unmatch", SHEPHERD, NOW), no_stage).data


def test_scheduler_only_fires_what_it_is_allowed(defs: Definitions) -> None:
    assert fire(defs, nomination(), Request("lapse", SCHEDULER, NOW), no_stage).event.dest == "overdue"
    with pytest.raises(Denied):
        fire(defs, nomination(), Request("lapse", ASEC, NOW), no_stage)


def test_options_say_what_each_actor_may_do(defs: Definitions) -> None:
    snap = nomination(stage="submitted")
    by_asec = {o.trigger: o for o in options(defs, snap, ASEC, NOW, no_stage)}
    by_nr = {o.trigger: o for o in options(defs, snap, NR_TH, NOW, no_stage)}
    assert set(by_asec) == {"return_for_correction", "accept"}
    assert all(o.permitted for o in by_asec.values())
    assert not any(o.permitted for o in by_nr.values())


def test_one_machine_per_workflow_with_one_token_whatever_the_firings(defs: Definitions) -> None:
    wf = defs.workflow("nomination")
    for code in ("TH", "VN", "MY"):
        fire(defs, nomination(code), Request("lapse", SCHEDULER, NOW), no_stage)
    machine, token = machine_for(wf)
    assert machine_for(wf) == (machine, token)
    assert machine.models == [token]  # deliverables are never attached: memory does not grow with them


def test_the_triggers_from_a_stage_are_the_machines() -> None:
    """`show` lists the triggers from the spec, without building a transitions machine (start-up,
    issue 15): the same triggers, in the same order, for every stage of every workflow."""
    from ascn_workflow.definitions import load
    from ascn_workflow.machine import triggers_from

    from .conftest import ROOT

    defs = load(ROOT / "workflows")
    pairs = [(w, s.name) for w in defs.workflows.values() for s in w.stages]
    assert len(pairs) > 40
    for workflow, stage in pairs:
        assert list(workflow.triggers_from(stage)) == triggers_from(workflow, stage), (workflow.name, stage)
    assert any(len(w.triggers_from(s)) > 1 for w, s in pairs)


def test_a_trigger_declared_again_for_a_stage_keeps_its_first_place() -> None:
    from ascn_workflow.machine import triggers_from
    from ascn_workflow.spec import Stage, Transition, Workflow

    workflow = Workflow(
        "w",
        "W",
        "network",
        "a",
        (Stage("a"), Stage("b"), Stage("c")),
        (
            Transition("go", ("a",), "b", ("asec",)),
            Transition("stop", ("b",), "c", ("asec",)),
            Transition("go", ("b",), "c", ("asec",)),
        ),
    )
    assert workflow.triggers_from("b") == ("go", "stop")
    assert list(workflow.triggers_from("b")) == triggers_from(workflow, "b")
