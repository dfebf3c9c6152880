"""Issue 16 item 1 (second half): one bad record never stops the due pass.

A person stored before addresses were checked (here: put in the database directly, as an old
database holds them) makes their message impossible to render. The pass marks that message failed
with its reason, shown by `ascn outbox list`, and every lapse, notice and other message still happens.
"""

from __future__ import annotations

from .conftest import ASEC, Ascn

BAD = "nö@th.example"  # non-ASCII local part: no SMTP envelope or header can carry it


def _plant_bad_nr(a: Ascn) -> None:
    with a.app().store.transaction() as tx:
        tx.execute("INSERT INTO person (email, name) VALUES (?, ?)", (BAD, "Old\vRecord"))
        tx.execute(
            "INSERT INTO person_role (email, role, member_state, city) VALUES (?, ?, ?, ?)", (BAD, "nr", "TH", "")
        )


def test_a_message_that_cannot_be_rendered_fails_alone(ready: Ascn) -> None:
    _plant_bad_nr(ready)
    tick = ready.run("tick", "--json", now="2018-03-01T12:00+08:00")
    assert tick.exit_code == 0, tick.output
    nominations = ready.json("status", "--workflow", "nomination", now="2018-03-01T12:00+08:00")
    assert {n["id"]: n["stage"] for n in nominations}["2018/nomination/th"] == "overdue"
    assert {n["stage"] for n in nominations} == {"overdue"}  # all ten lapsed, Thailand's too
    failed = ready.json("outbox", "list", "--status", "failed")
    assert [m["deliverable_id"] for m in failed] == ["2018/nomination/th"]
    assert "cannot render" in failed[0]["last_error"] and "non-ASCII" in failed[0]["last_error"]
    sent = ready.json("outbox", "list", "--status", "sent")
    assert len(sent) == 9 and "2018/nomination/th" not in {m["deliverable_id"] for m in sent}
    assert "2018/nomination/th" in ready.ok("outbox", "list", "--status", "failed").stdout


def test_a_reminder_that_cannot_be_rendered_blocks_no_other_reminder(ready: Ascn) -> None:
    _plant_bad_nr(ready)
    # Any change to the directory plans the open deliverables' reminders again, the bad NR's included.
    ready.ok(
        "people",
        "add",
        "--email",
        "fp@th.example",
        "--name",
        "FP",
        "--role",
        "focal_point",
        "--member-state",
        "TH",
        actor=ASEC,
    )
    tick = ready.run("tick", "--json", now="2018-02-14T12:00+08:00")  # 14 days before nominations-due
    assert tick.exit_code == 0, tick.output
    failed = ready.json("outbox", "list", "--status", "failed")
    assert [(m["deliverable_id"], m["recipients"]) for m in failed] == [("2018/nomination/th", [BAD])]
    sent = {(m["deliverable_id"], m["recipients"][0]) for m in ready.json("outbox", "list", "--status", "sent")}
    assert ("2018/nomination/th", "nr@th.example") in sent and ("2018/nomination/vn", "nr@vn.example") in sent
