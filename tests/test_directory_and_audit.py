"""Issue 16 items 4 and 5: the directory has authority, and `audit verify` covers state.

People are added by an ASEC officer (the Chair may grant network roles), who is recorded and shown;
the first ASEC officer needs no actor. `audit verify` replays each deliverable's history to its
stage, version and data, and the directory's own hash chain to the roles and names stored, so
direct edits of the database that leave the history chains intact are caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from ascn_workflow.store.append_only import unprotect
from ascn_workflow.store.migrate import make_engine

from .conftest import ASEC, CHAIR, NR, Ascn, join


def _add(a: Ascn, email: str, role: str, *scope: str, actor: str | None) -> Any:
    return a.run("people", "add", "--email", email, "--name", email.split("@")[0], "--role", role, *scope, actor=actor)


def test_only_asec_changes_the_directory_and_is_recorded(ready: Ascn) -> None:
    assert _add(ready, "fp@kh.example", "focal_point", "--member-state", "KH", actor=None).exit_code == 5
    denied = _add(ready, "fp@kh.example", "focal_point", "--member-state", "KH", actor=NR["TH"])
    assert denied.exit_code == 5 and "ASEC" in denied.stderr and len(denied.stderr.splitlines()) == 1
    assert _add(ready, "fp@kh.example", "focal_point", "--member-state", "KH", actor=ASEC).exit_code == 0
    people = {(p["email"], p["role"]): p for p in ready.json("people", "list")}
    assert people[("fp@kh.example", "focal_point")]["granted_by"] == ASEC
    assert people[(ASEC, "asec")]["granted_by"] == "bootstrap"
    assert "granted by" in ready.ok("people", "list").stdout


def test_the_chair_grants_network_roles_only(ready: Ascn) -> None:
    assert _add(ready, "shepherd2@mnd.example", "shepherd", actor=CHAIR).exit_code == 0
    assert _add(ready, "nr2@th.example", "nr", "--member-state", "TH", actor=CHAIR).exit_code == 5


def test_a_chair_grant_counts_only_in_the_cycle_its_state_chairs(ready: Ascn) -> None:
    """As for every other right of the Chair (engine.chair_seat): Thailand chairs 2019, not the
    configured 2018, so its `chair` grant may not grant network roles in 2018; Singapore's may."""
    assert _add(ready, "chair@th.example", "chair", "--member-state", "TH", actor=ASEC).exit_code == 0
    denied = _add(ready, "shepherd2@mnd.example", "shepherd", actor="chair@th.example")
    assert denied.exit_code == 5 and "the Chair of 2018" in denied.stderr
    assert _add(ready, "shepherd2@mnd.example", "shepherd", actor=CHAIR).exit_code == 0


def test_the_chairing_states_nr_is_the_chair_when_nobody_holds_the_grant(ascn: Ascn) -> None:
    ascn.ok("init")
    assert _add(ascn, ASEC, "asec", actor=None).exit_code == 0
    join(ascn, "SG", ["Singapore"], nr=NR["SG"], actor=ASEC)
    join(ascn, "TH", ["Bangkok"], nr=NR["TH"], actor=ASEC)
    assert _add(ascn, "shepherd2@mnd.example", "shepherd", actor=NR["TH"]).exit_code == 5
    assert _add(ascn, "shepherd2@mnd.example", "shepherd", actor=NR["SG"]).exit_code == 0
    people = {(p["email"], p["role"]): p for p in ascn.json("people", "list")}
    assert people[("shepherd2@mnd.example", "shepherd")]["granted_by"] == NR["SG"]


def test_people_import_needs_asec_once_there_is_one(ready: Ascn) -> None:
    text = '[[people]]\nemail = "fp@kh.example"\nname = "Sok"\nrole = "focal_point"\nmember_state = "KH"\n'
    path = ready.file("kh.toml", text)
    assert ready.run("people", "import", path).exit_code == 5
    assert "fp@kh.example" not in ready.ok("people", "list").stdout
    assert ready.run("people", "import", path, actor=ASEC).exit_code == 0


def test_the_first_asec_officer_needs_no_actor_and_nobody_else_does(ascn: Ascn) -> None:
    ascn.ok("init")
    first = _add(ascn, "nr@th.example", "nr", "--member-state", "TH", actor=None)
    assert first.exit_code == 5 and "no ASEC officer yet" in first.stderr
    assert _add(ascn, ASEC, "asec", actor=None).exit_code == 0
    assert _add(ascn, "other@asec.example", "asec", actor=None).exit_code == 5


# ---------------------------------------------------------------------------- audit verify


def _sql(a: Ascn, *statements: tuple[str, dict[str, Any]]) -> None:
    """Tampering as someone with the database owner's rights would: the append-only triggers removed."""
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)
        for statement, params in statements:
            c.execute(text(statement), params)
    engine.dispose()


FW = "2018/framework"
ATTACKS: dict[str, Callable[[Ascn], None]] = {
    "stage set by hand": lambda a: _sql(a, ("UPDATE deliverable SET stage = 'adopted' WHERE id = :id", {"id": FW})),
    "last history row deleted and version lowered": lambda a: _sql(
        a,
        ("DELETE FROM history WHERE deliverable_id = :id AND seq = 2", {"id": FW}),
        ("UPDATE deliverable SET version = 2 WHERE id = :id", {"id": FW}),
    ),
    "all history deleted": lambda a: _sql(
        a,
        ("DELETE FROM history WHERE deliverable_id = :id", {"id": FW}),
        ("UPDATE deliverable SET version = 1 WHERE id = :id", {"id": FW}),
    ),
    "data edited": lambda a: _sql(
        a, ("UPDATE deliverable SET data = :data WHERE id = :id", {"data": json.dumps({"venue": "Atlantis"}), "id": FW})
    ),
    "a Chair grant inserted": lambda a: _sql(
        a,
        ("INSERT INTO person (email, name) VALUES ('evil@x.example', 'Evil')", {}),
        (
            "INSERT INTO person_role (email, role, member_state, city) VALUES ('evil@x.example', 'chair', 'SG', '')",
            {},
        ),
    ),
    "a directory change edited": lambda a: _sql(
        a, ("UPDATE directory_change SET actor = 'forged@x.example' WHERE email = :email", {"email": NR["TH"]})
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_audit_verify_catches_direct_edits_of_state(ready: Ascn, attack: str) -> None:
    ready.ok("advance", FW, "circulate", "--data", "venue=Singapore", actor=ASEC, now="2018-03-20T10:00+08:00")
    ready.ok(
        "advance",
        FW,
        "revise",
        "--waive",
        "scgw-convened",
        "--reason",
        "test",
        actor=CHAIR,
        now="2018-03-21T10:00+08:00",
    )
    clean = ready.run("audit", "verify", "--json")
    assert clean.exit_code == 0, clean.output
    ATTACKS[attack](ready)
    result = ready.run("audit", "verify", "--json")
    assert result.exit_code == 7, (attack, result.output)
    problems = json.loads(result.stdout)["problems"]
    expected = "directory" if "grant" in attack or "directory" in attack else FW
    assert any(p["deliverable_id"] == expected for p in problems), problems
