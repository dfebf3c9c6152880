"""A deadline the due pass applies is recorded as coming from the scheduler, not the command line
(SPEC §8: history records where an act came in), and the row's hash covers that channel."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema

from .conftest import ASEC, Ascn, join


def test_a_lapse_made_by_the_due_pass_is_recorded_with_channel_scheduler(ready: Ascn) -> None:
    join(ready, "TH", ["Bangkok"])  # Thailand nominates; Viet Nam never does
    ticked = ready.json("tick", now="2018-03-01T12:00+08:00")
    assert any(line.startswith("2018/nomination/vn: awaiting -> overdue") for line in ticked["lapsed"])

    history = ready.json("history", "2018/nomination/vn")
    lapse = history[-1]
    assert (lapse["trigger"], lapse["actor"], lapse["channel"], lapse["recorded_by"]) == (
        "lapse",
        "scheduler",
        "scheduler",
        None,
    )
    # Acts of people keep their channel.
    assert {h["channel"] for h in ready.json("history", "2018/nomination/th")} == {"cli"}
    schema = json.loads(resources.files("ascn_workflow").joinpath("schemas", "history.json").read_text("utf-8"))
    jsonschema.validate(history, schema)
    assert ready.json("audit", "verify", actor=ASEC)["problems"] == []
