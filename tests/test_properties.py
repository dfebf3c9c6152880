"""Property-based: random (trigger, actor, instant) sequences keep the engine's invariants.

The stage is always a stage of the workflow; replaying the history gives the current stage; the
version rises by one per transition; a refused attempt changes nothing (checked in the store too).
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from ascn_workflow import services, views
from ascn_workflow.app import App
from ascn_workflow.config import load_config
from ascn_workflow.definitions import load
from ascn_workflow.deliverable import Deliverable
from ascn_workflow.engine import Event, Request, fire
from ascn_workflow.errors import AscnError
from ascn_workflow.people import SCHEDULER, Actor, Grant
from ascn_workflow.spec import Definitions

from .conftest import PEOPLE, WORKFLOWS, utc, write_config

DEFS: Definitions = load(WORKFLOWS)
START = utc("2018-01-15T09:00+08:00")
ACTORS = [
    Actor("asec@x.example", (Grant("asec"),)),
    Actor("shepherd@x.example", (Grant("shepherd"),)),
    Actor("chair@x.example", (Grant("chair", "SG"),)),
    Actor("nr@th.example", (Grant("nr", "TH"),)),
    Actor("nr@vn.example", (Grant("nr", "VN"),)),
    Actor("csco@bangkok.example", (Grant("csco", "TH", "bangkok"),)),
    SCHEDULER,
]
SUBJECTS = {
    "framework": {},
    "scgw": {},
    "annual-meeting": {},
    "annual-report": {},
    "launch": {},
    "nomination": {"member_state": "TH"},
    "action-plan": {"member_state": "TH", "city": "bangkok"},
    "twinning": {"member_state": "TH", "city": "bangkok"},
}
ALL_TRIGGERS = sorted({t.trigger for wf in DEFS.workflows.values() for t in wf.transitions} | {"fly"})
attempts = st.lists(
    st.tuples(
        st.sampled_from(ALL_TRIGGERS),
        st.integers(0, len(ACTORS) - 1),
        st.integers(0, 400),
        st.booleans(),
        st.booleans(),
    ),
    max_size=25,
)
world = st.fixed_dictionaries(
    {
        "2018/scgw": st.sampled_from(["planned", "convened", "concluded"]),
        "2018/annual-meeting": st.sampled_from(["planned", "convened", "concluded"]),
        "2018/framework": st.sampled_from(["drafting", "endorsed_by_jcm"]),
    }
)


def _request(trigger: str, actor: Actor, days: int, note: bool, partner: bool) -> Request:
    now = START + timedelta(days=days)
    return Request(trigger, actor, now, note="because" if note else None, data={"partner": "Japan"} if partner else {})


@settings(max_examples=300, deadline=None)
@given(workflow=st.sampled_from(sorted(SUBJECTS)), steps=attempts, stages=world)
def test_engine_invariants(workflow: str, steps: list, stages: dict) -> None:
    wf = DEFS.workflow(workflow)
    snap = Deliverable(f"2018/{workflow}", 2018, workflow, wf.initial, 1, **SUBJECTS[workflow])
    events: list[Event] = []
    for trigger, who, days, note, partner in steps:
        request = _request(trigger, ACTORS[who], days, note, partner)
        before = snap
        try:
            outcome = fire(DEFS, snap, request, stages.get)
        except AscnError:
            assert snap == before
            continue
        assert outcome.version == snap.version and outcome.event.source == snap.stage
        events.append(outcome.event)
        snap = replace(
            snap,
            stage=outcome.event.dest,
            version=snap.version + 1,
            data=dict(outcome.data),
            last_event_at=outcome.event.effective_at,
        )
        assert snap.stage in {s.name for s in wf.stages}
    replayed = wf.initial
    for event in events:
        assert event.source == replayed
        replayed = event.dest
    assert replayed == snap.stage and snap.version == 1 + len(events)
    assert [e.effective_at for e in events] == sorted(e.effective_at for e in events)


STORE_ACTORS = [
    "officer@asec.example",
    "shepherd@mnd.gov.sg",
    "chair@mnd.gov.sg",
    "nr@th.example",
    "nr@vn.example",
    "stranger@x.example",
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(["2018/framework", "2018/scgw", "2018/nomination/th", "2018/annual-report"]),
    steps=st.lists(
        st.tuples(st.sampled_from(ALL_TRIGGERS), st.sampled_from(STORE_ACTORS), st.integers(0, 400), st.booleans()),
        max_size=12,
    ),
)
def test_store_keeps_the_invariants(target: str, steps: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = App(load_config(write_config(Path(folder)), explicit=True))
        services.init(app, 2018, START)
        (Path(folder) / "people.toml").write_text(PEOPLE)
        services.people_import(app, Path(folder) / "people.toml", START)
        for trigger, actor, days, note in steps:
            now = START + timedelta(days=days)
            before = views.show_deliverable(app, target, now)
            try:
                services.advance(app, target, trigger, now, actor, note="because" if note else None)
            except AscnError:
                after = views.show_deliverable(app, target, now)
                assert (after["stage"], after["version"], after["history"]) == (
                    before["stage"],
                    before["version"],
                    before["history"],
                )
                continue
            after = views.show_deliverable(app, target, now)
            assert after["version"] == before["version"] + 1
            assert (
                after["history"][-1]["from_stage"] == before["stage"]
                and after["history"][-1]["to_stage"] == after["stage"]
            )
        final = views.show_deliverable(app, target, START + timedelta(days=500))
        stage = DEFS.workflow(final["workflow"]).initial
        for event in final["history"]:
            assert event["from_stage"] == stage
            stage = event["to_stage"]
        assert stage == final["stage"] and final["version"] == 1 + len(final["history"])
