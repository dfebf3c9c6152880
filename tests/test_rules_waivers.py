"""Every named rule refuses its transition, naming itself, and the Chair or the shepherd can waive it."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable

import pytest

from .conftest import ASEC, CHAIR, NR, SHEPHERD, WORKFLOWS, Ascn, join, nomination

Setup = Callable[[Ascn], tuple[list[str], str]]  # -> (the refused command's arguments, its `now`)


def _nominate(cities: list[str], nr: bool = True, csco: bool = True) -> Setup:
    def setup(a: Ascn) -> tuple[list[str], str]:
        text = nomination("TH", cities, NR["TH"] if nr else None, csco=csco)
        return ["nominate", "TH", "--file", a.file("th.toml", text)], "2018-02-20T10:00+07:00"

    return setup


def _framework_at(stage_steps: list[tuple[str, str, str]], trigger: str, now: str, document: bool = True) -> Setup:
    def setup(a: Ascn) -> tuple[list[str], str]:
        if document:  # the version a body endorses (rule document-attached)
            a.ok("document", "add", "2018/framework", a.file("fw.txt", "Framework draft\n"), actor=ASEC)
        for deliverable, step, when in stage_steps:
            a.ok("advance", deliverable, step, actor=ASEC, now=when)
        return ["advance", "2018/framework", trigger], now

    return setup


CIRCULATED = [("2018/framework", "circulate", "2018-03-20T10:00+08:00")]
REVISED = [
    *CIRCULATED,
    ("2018/scgw", "convene", "2018-05-22T09:00+08:00"),
    ("2018/framework", "revise", "2018-05-25T10:00+08:00"),
]
ENDORSED = [
    *REVISED,
    ("2018/annual-meeting", "convene", "2018-07-08T09:00+08:00"),
    ("2018/framework", "endorse", "2018-07-08T10:00+08:00"),
]


def _launch_after_summit(a: Ascn) -> tuple[list[str], str]:
    return ["advance", "2018/launch", "launch"], "2018-11-20T10:00+08:00"


def _launch_before_summit(a: Ascn) -> tuple[list[str], str]:
    return ["advance", "2018/launch", "launch"], "2018-11-01T10:00+08:00"  # the Framework not endorsed either


def _announce(a: Ascn) -> tuple[list[str], str]:
    join(a, "TH", ["Bangkok"])
    a.ok(
        "advance",
        "2018/twinning/bangkok",
        "match",
        "--data",
        "partner=Japan",
        actor=SHEPHERD,
        now="2018-07-08T10:00+08:00",
    )
    a.ok("advance", "2018/twinning/bangkok", "finalise", actor=ASEC, now="2018-07-20T10:00+08:00")
    return ["advance", "2018/twinning/bangkok", "announce"], "2018-07-25T10:00+08:00"


def _report(a: Ascn) -> tuple[list[str], str]:
    return ["advance", "2018/annual-report", "submit"], "2018-09-01T10:00+08:00"


CASES: dict[str, Setup] = {
    "max-cities": _nominate(["Bangkok", "Chonburi", "Phuket", "Chiang Mai"]),
    "capital-included": _nominate(["Chonburi", "Phuket"]),
    "csco-per-city": _nominate(["Bangkok"], csco=False),
    "nr-named": _nominate(["Bangkok"], nr=False),
    "scgw-convened": _framework_at(CIRCULATED, "revise", "2018-05-01T10:00+08:00"),
    "annual-meeting-convened": _framework_at(REVISED, "endorse", "2018-06-01T10:00+08:00"),
    "annual-meeting-concluded": _report,
    "framework-endorsed-by-jcm": _launch_after_summit,
    "on-or-after-amm": _announce,
    "on-or-after-jcm": _framework_at(ENDORSED, "jcm_endorse", "2018-09-01T10:00+08:00"),
    "on-or-after-summit": _launch_before_summit,
    "document-attached": _framework_at(
        [*REVISED, ("2018/annual-meeting", "convene", "2018-07-08T09:00+08:00")],
        "endorse",
        "2018-07-08T10:00+08:00",
        document=False,
    ),
}


def test_every_rule_has_a_case() -> None:
    with (WORKFLOWS / "rules.toml").open("rb") as handle:
        assert set(tomllib.load(handle)) == set(CASES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_refuses_then_is_waived(ready: Ascn, rule: str) -> None:
    a = ready
    if rule == "max-cities":  # Chiang Mai is not a pilot city: the file gives its zone
        args, now = CASES[rule](a)
        path = args[-1]
        with open(path, encoding="utf-8") as f:
            text = f.read().replace('name = "Chiang Mai"\n', 'name = "Chiang Mai"\ntimezone = "Asia/Bangkok"\n')
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        args, now = CASES[rule](a)
    owner = NR["TH"] if args[0] == "nominate" else ASEC
    refused = a.run(*args, "--json", actor=owner, now=now)
    assert refused.exit_code == 4, refused.output
    error = json.loads(refused.stderr)
    assert rule in error["rules"] and rule in error["message"]

    not_allowed = a.run(*args, "--waive", rule, "--reason", "x", actor=ASEC, now=now)
    assert not_allowed.exit_code == 5 and "Chair or the shepherd" in not_allowed.stderr

    waivers = [arg for name in error["rules"] for arg in ("--waive", name)]
    waiver_actor = CHAIR if rule != "max-cities" else SHEPHERD
    done = a.run(*args, *waivers, "--reason", f"agreed: {rule}", "--json", actor=waiver_actor, now=now)
    assert done.exit_code == 0, done.output
    event = json.loads(done.stdout)["event"]
    assert event["waivers"][rule] == f"agreed: {rule}"
