"""The three hash chains (history, calendar changes, the people directory) are walked by one
function (`audit.walk_chain`): whatever it tells of one chain it tells of the others, so two rows
swapped in the calendar's or the directory's chain are reported as reordered, as in a history."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from ascn_workflow.audit import change_digest, digest, directory_digest, verify_chain, verify_changes, verify_directory
from ascn_workflow.store.append_only import unprotect
from ascn_workflow.store.migrate import make_engine

from .conftest import ASEC, Ascn, join

Digest = Callable[[Mapping[str, Any], str], str]
ZONE_BANGKOK = ZoneInfo("Asia/Bangkok")


def _chain(rows: list[dict[str, Any]], digest_of: Digest) -> list[dict[str, Any]]:
    prev, chained = "", []
    for row in rows:
        value = digest_of(row, prev)
        chained.append({**row, "prev_hash": prev, "hash": value})
        prev = value
    return chained


HISTORY = [
    {
        "deliverable_id": "2018/scgw", "seq": i, "trigger": t, "source": "a", "dest": "b", "actor": "x@y.example",
        "role": "asec", "effective_at": f"2018-05-2{i}", "recorded_at": f"2018-05-2{i}", "note": None, "data": {},
        "waivers": {},
    }
    for i, t in enumerate(["convene", "conclude", "report"], start=1)
]  # fmt: skip
CALENDAR = [
    {
        "seq": i, "cycle": 2018, "kind": "milestone", "target": "scgw", "actor": ASEC, "role": "asec",
        "recorded_at": f"2018-05-1{i}", "reason": f"move {i}", "old_value": {}, "new_value": {}, "deliverables": [],
        "told": [],
    }
    for i in (1, 2, 3)
]  # fmt: skip
DIRECTORY = [
    {"seq": i, "at": "2018-01-01", "actor": "bootstrap", "email": f"p{i}@x.example", "name": f"P {i}",
     "role": "asec", "member_state": "", "city": ""}
    for i in (1, 2, 3)
]  # fmt: skip

CHAINS: dict[str, tuple[list[dict[str, Any]], Digest, Callable[[list[dict[str, Any]]], list[Any]]]] = {
    "history": (HISTORY, digest, lambda rows: verify_chain("2018/scgw", rows, 3)),
    "calendar": (CALENDAR, change_digest, verify_changes),
    "directory": (
        DIRECTORY,
        directory_digest,
        lambda rows: verify_directory(rows, [(r["email"], "asec", "", "") for r in rows], {}),
    ),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_every_chain_reports_edits_deletions_and_reordering_alike(chain: str) -> None:
    rows, digest_of, verify = CHAINS[chain]
    good = _chain(rows, digest_of)
    assert verify(good) == []
    swapped = [good[0], {**good[2], "seq": 2}, {**good[1], "seq": 3}]  # seq renumbered, links not
    assert ("reordered", 2) in {(p.kind, p.position) for p in verify(swapped)}
    edited = [good[0], {**good[1], "actor": "someone@else.example"}, good[2]]
    assert {(p.kind, p.position) for p in verify(edited)} == {("edited", 2)}
    missing = [good[0], good[2]]
    assert "deleted" in {p.kind for p in verify(missing)}


def _swap(a: Ascn, table: str) -> None:
    """Two rows' places exchanged, as someone with the database owner's rights could."""
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)
        c.execute(text(f"UPDATE {table} SET seq = 1000 WHERE seq = 1"))
        c.execute(text(f"UPDATE {table} SET seq = 1 WHERE seq = 2"))
        c.execute(text(f"UPDATE {table} SET seq = 2 WHERE seq = 1000"))
    engine.dispose()


@pytest.mark.parametrize(("table", "owner"), [("calendar_change", "calendar"), ("directory_change", "directory")])
def test_audit_verify_names_two_swapped_changes_as_reordered(ready: Ascn, table: str, owner: str) -> None:
    join(ready, "TH", ["Bangkok"])
    ready.ok("calendar", "set", "scgw", "2018-05-29", "--reason", "venue", actor=ASEC, now="2018-05-14T10:00+08:00")
    ready.ok("calendar", "set", "scgw", "2018-05-30", "--reason", "again", actor=ASEC, now="2018-05-15T10:00+08:00")
    assert ready.json("audit", "verify")["problems"] == []
    _swap(ready, table)
    result = ready.run("audit", "verify", "--json")
    assert result.exit_code == 7
    problems = json.loads(result.stdout)["problems"]
    assert ("reordered", 1) in {(p["kind"], p["position"]) for p in problems if p["deliverable_id"] == owner}


def _endorsed(a: Ascn) -> Ascn:
    a.ok("advance", "2018/framework", "circulate", actor=ASEC, now="2018-03-20T09:00+08:00")
    a.ok("advance", "2018/scgw", "convene", actor=ASEC, now="2018-05-22T09:00+08:00")
    a.ok("advance", "2018/framework", "revise", actor=ASEC, now="2018-05-25T18:00+08:00")
    a.ok("advance", "2018/annual-meeting", "convene", actor=ASEC, now="2018-07-08T09:00+08:00")
    path = a.file("fw.txt", "Framework draft\n")
    a.ok(
        "document", "add", "2018/framework", path, "--title", "ASCN Framework", actor=ASEC, now="2018-07-08T09:30+08:00"
    )
    a.ok("advance", "2018/framework", "endorse", actor=ASEC, now="2018-07-08T10:00+08:00")
    later = a.file("fw2.txt", "Framework, after the meeting\n")
    a.ok("document", "add", "2018/framework", later, actor=ASEC, now="2018-07-09T10:00+08:00")  # endorsed by none
    return a


@pytest.mark.parametrize(
    ("statement", "kind", "position"),
    [
        ("UPDATE document SET title = 'A forged title' WHERE title = 'ASCN Framework'", "edited", 1),
        ("DELETE FROM document WHERE title = 'ASCN Framework'", "deleted", 1),
    ],
)
def test_audit_verify_checks_an_endorsed_documents_row_against_the_history(
    ready: Ascn, statement: str, kind: str, position: int
) -> None:
    a = _endorsed(ready)
    assert a.json("audit", "verify")["problems"] == []
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)  # as the database owner could
        c.execute(text(statement))
    engine.dispose()
    result = a.run("audit", "verify", "--json")
    assert result.exit_code == 7, result.output
    problems = json.loads(result.stdout)["problems"]
    assert (kind, position) in {
        (p["kind"], p["position"]) for p in problems if p["deliverable_id"] == "2018/framework document"
    }


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE document SET filename = 'other.txt' WHERE filename = 'fw2.txt'",
        "UPDATE document SET title = 'Forged' WHERE filename = 'fw2.txt'",
        "UPDATE document SET added_by = 'someone@else.example' WHERE filename = 'fw2.txt'",
    ],
)
def test_audit_verify_catches_any_document_row_edited(ready: Ascn, statement: str) -> None:
    """Migration 0009 chains each deliverable's document rows: an unendorsed version's file name,
    title or author edited in the database is caught too."""
    a = _endorsed(ready)
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        unprotect(c)  # as the database owner could
        c.execute(text(statement))
    engine.dispose()
    result = a.run("audit", "verify", "--json")
    assert result.exit_code == 7, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [(p["deliverable_id"], p["kind"], p["position"]) for p in problems] == [
        ("2018/framework document", "edited", 2)
    ]


def test_db_upgrade_to_0009_chains_the_documents_already_stored(ready: Ascn) -> None:
    from alembic import command

    from ascn_workflow.store import migrate

    a = _endorsed(ready)
    url = a.app().config.database_url
    engine = make_engine(url)
    with engine.begin() as c:  # the database as 0008 left it: document rows without a chain
        command.downgrade(migrate._config(c), "0008")
    engine.dispose()
    assert a.run("status").exit_code == 2
    a.ok("db", "upgrade")
    assert a.json("audit", "verify")["problems"] == []
    engine = make_engine(url)
    with engine.begin() as c:
        unprotect(c)  # as the database owner could
        c.execute(text("UPDATE document SET filename = 'other.txt' WHERE filename = 'fw.txt'"))
    engine.dispose()
    problems = json.loads(a.run("audit", "verify", "--json").stdout)["problems"]
    assert ("2018/framework document", "edited", 1) in {
        (p["deliverable_id"], p["kind"], p["position"]) for p in problems
    }


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any text a JSON value may hold
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT, lambda inner: st.lists(inner) | st.dictionaries(_TEXT, inner)
)
_INSTANT = st.datetimes(
    min_value=datetime(100, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from([UTC, ZONE_BANGKOK])
)


_ROW = st.fixed_dictionaries(
    {
        "deliverable_id": _TEXT, "seq": st.integers(1, 10**6), "trigger": _TEXT, "source": _TEXT, "dest": _TEXT,
        "actor": _TEXT, "role": _TEXT, "effective_at": _INSTANT, "recorded_at": _INSTANT,
        "note": st.none() | _TEXT, "data": st.dictionaries(_TEXT, _VALUE), "waivers": st.dictionaries(_TEXT, _TEXT),
        "channel": st.sampled_from(["cli", "web", "scheduler"]), "recorded_by": st.none() | _TEXT,
    }
)  # fmt: skip


@given(row=_ROW, prev=st.sampled_from(["", "0" * 64, "ab" * 32]), same_instant=st.booleans())
def test_a_history_rows_hash_is_the_documented_sha256_of_its_canonical_json(
    row: dict[str, Any], prev: str, same_instant: bool
) -> None:
    """docs/audit.md's format, computed here with the standard library alone: every row stored
    since version 1 must keep verifying, whatever `audit.digest` does to be quick."""
    if same_instant:  # as an advance without --at records it: one object for both
        row["recorded_at"] = row["effective_at"]
    content = {
        k: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(v, datetime) else v
        for k, v in row.items()
        if k not in ("channel", "recorded_by")
    }
    if row["channel"] != "cli":
        content["channel"] = row["channel"]
    if row["recorded_by"] is not None:
        content["recorded_by"] = row["recorded_by"]
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert digest(row, prev) == hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()
