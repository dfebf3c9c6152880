"""Proven identity on the command line: `[auth] cli` = declared | os-user | database-user, and
ASEC recording an act on someone's behalf (SPEC §8)."""

from __future__ import annotations

from pathlib import Path

from ascn_workflow.identity import os_login

from .conftest import ASEC, NR, PEOPLE, SHEPHERD, Ascn, write_config


def _site(tmp_path: Path, db_url: str, mode: str | None) -> Ascn:
    extra = f'\n[auth]\ncli = "{mode}"\n' if mode else ""
    a = Ascn(tmp_path, write_config(tmp_path, db_url, extra=extra))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    return a


def _last(a: Ascn, deliverable: str) -> dict:
    return a.json("history", deliverable)[-1]


def test_declared_keeps_actor_and_asec_may_record_on_behalf(tmp_path: Path, db_url: str) -> None:
    a = _site(tmp_path, db_url, None)
    a.ok("advance", "2018/framework", "circulate", actor=SHEPHERD, now="2018-03-20T09:00+08:00")
    event = _last(a, "2018/framework")
    assert (event["actor"], event["channel"], event["recorded_by"]) == (SHEPHERD, "cli", None)
    a.ok("advance", "2018/scgw", "convene", "--on-behalf-of", SHEPHERD, actor=ASEC, now="2018-05-22T09:00+08:00")
    event = _last(a, "2018/scgw")
    assert (event["actor"], event["role"], event["recorded_by"]) == (SHEPHERD, "shepherd", ASEC)
    refused = a.run("advance", "2018/scgw", "conclude", "--on-behalf-of", ASEC, actor=NR["TH"])
    assert refused.exit_code == 5 and "only ASEC" in refused.stderr
    assert a.json("audit", "verify")["problems"] == []


def test_os_user_proves_who_acts(tmp_path: Path, db_url: str) -> None:
    a = _site(tmp_path, db_url, "os-user")
    me = os_login()
    unlinked = a.run("advance", "2018/framework", "circulate", now="2018-03-20T09:00+08:00")
    assert unlinked.exit_code == 5 and f"login {me!r} is not linked" in unlinked.stderr
    a.ok("people", "add", "--email", ASEC, "--name", "ASEC officer", "--role", "asec", "--login", me, actor=ASEC)
    pretend = a.run("advance", "2018/framework", "circulate", actor=SHEPHERD, now="2018-03-20T09:00+08:00")
    assert pretend.exit_code == 5 and f"you are {ASEC}" in pretend.stderr
    a.ok("advance", "2018/framework", "circulate", now="2018-03-20T09:00+08:00")
    event = _last(a, "2018/framework")
    assert (event["actor"], event["recorded_by"]) == (ASEC, ASEC)
    a.ok("advance", "2018/scgw", "convene", "--on-behalf-of", SHEPHERD, actor=ASEC, now="2018-05-22T09:00+08:00")
    event = _last(a, "2018/scgw")
    assert (event["actor"], event["recorded_by"]) == (SHEPHERD, ASEC)
    taken = a.run(
        "people", "add", "--email", SHEPHERD, "--name", "Shepherd", "--role", "shepherd", "--login", me, actor=ASEC
    )
    assert taken.exit_code == 6
    assert a.json("audit", "verify")["problems"] == []


def test_database_user_maps_the_session_user(tmp_path: Path, db_url: str) -> None:
    if db_url.startswith("sqlite"):  # the embedded file has no users: nothing can be proven, nothing changes
        a = Ascn(tmp_path, write_config(tmp_path, db_url, extra='\n[auth]\ncli = "database-user"\n'))
        a.ok("init")
        for args in (
            ["people", "import", a.file("people.toml", PEOPLE)],
            ["advance", "2018/framework", "circulate"],
            ["calendar", "set", "jcm", "2018-10-16", "--reason", "moved"],
        ):
            result = a.run(*args, actor=ASEC, now="2018-03-20T09:00+08:00")
            assert result.exit_code == 2 and "needs PostgreSQL" in result.stderr, (args, result.stderr)
        assert a.json("people", "list") == []
        return
    a = _site(tmp_path, db_url, "database-user")
    result = a.run("advance", "2018/framework", "circulate", now="2018-03-20T09:00+08:00")
    assert result.exit_code == 5 and "'postgres' is not linked" in result.stderr
    a.ok(
        "people",
        "add",
        "--email",
        SHEPHERD,
        "--name",
        "Shepherd",
        "--role",
        "shepherd",
        "--login",
        "postgres",
        actor=ASEC,
    )
    a.ok("advance", "2018/framework", "circulate", now="2018-03-20T09:00+08:00")
    event = _last(a, "2018/framework")
    assert (event["actor"], event["recorded_by"]) == (SHEPHERD, SHEPHERD)


def test_under_os_user_every_changing_command_acts_as_the_proven_person(tmp_path: Path, db_url: str) -> None:
    """Once a login is linked, a declared --actor is never taken on trust: not by people add (which
    would let any OS user link itself to ASEC), calendar set, extend, document add or project add."""
    a = _site(tmp_path, db_url, "os-user")
    me = os_login()
    a.ok(
        "people",
        "add",
        "--email",
        NR["TH"],
        "--name",
        "NR TH",
        "--role",
        "nr",
        "--member-state",
        "TH",
        "--login",
        me,
        actor=ASEC,
    )  # the bootstrap window: no login was linked yet
    for args in (
        ["people", "add", "--email", "x@asec.example", "--name", "X", "--role", "asec"],
        ["calendar", "set", "jcm", "2018-10-16", "--reason", "moved"],
        ["extend", "2018/framework", "--to", "2018-04-15", "--reason", "late"],
        ["document", "add", "2018/framework", a.file("draft.txt", "the draft")],
    ):
        pretend = a.run(*args, actor=ASEC, now="2018-03-01T09:00+08:00")
        assert pretend.exit_code == 5 and f"you are {NR['TH']}" in pretend.stderr, (args, pretend.stderr)
        as_me = a.run(*args, now="2018-03-01T09:00+08:00")  # the NR of Thailand may do none of these
        assert as_me.exit_code == 5, (args, as_me.stderr)
    assert "x@asec.example" not in {p["email"] for p in a.json("people", "list")}
    assert a.json("calendar", "history") == []
