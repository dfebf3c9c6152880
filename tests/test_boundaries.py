"""Issue 16 items 1 and 6: what enters at a boundary can always be put in a mail header.

Every name and address that enters through `people add`, `people import` or a nomination file is
checked by the same two functions; a To header never shows a display name as a second recipient.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from ascn_workflow.config import load_config
from ascn_workflow.errors import BadInput
from ascn_workflow.mail.render import overdue_message, reminder_message
from ascn_workflow.names import check_email, check_name
from ascn_workflow.planning import Recipient

from .conftest import ASEC, Ascn, utc

CONTROL_NAMES = ["Anong\vK.", "Anong\fK.", "A\x1cB", "A\x1dB", "A\x1eB", "A\u2028B", "A\u202eB", "A\u200bB", "x" * 201]
BAD_ADDRESSES = [
    "anong@bangkok.exámple",
    "ánong@bangkok.example",
    "anong@bangkok",
    "a..b@bangkok.example",
    "a b@bangkok.example",
    "anong@-bangkok.example",
    "<anong@bangkok.example>",
    "anong@bangkok.example\v",
    "x" * 65 + "@bangkok.example",
    "a@" + "b" * 64 + ".example",
]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_names_with_control_or_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match=r"line break, control or invisible|at most 200"):
        check_name(name, "person")


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_addresses_outside_rfc_5321_are_refused(address: str) -> None:
    with pytest.raises(BadInput):
        check_email(address, "person")


def test_non_ascii_addresses_are_refused_saying_why() -> None:
    with pytest.raises(BadInput, match="SMTPUTF8"):
        check_email("ánong@bangkok.example", "person")


def test_plain_names_and_addresses_pass() -> None:
    assert check_name("  Nguyễn Thị Minh Khai ", "n") == "Nguyễn Thị Minh Khai"
    assert check_email("Anong.K+ascn@Bangkok.Example", "e") == "anong.k+ascn@bangkok.example"


def test_people_add_refuses_a_control_character(ready: Ascn) -> None:
    result = ready.run(
        "people", "add", "--email", "a@b.example", "--name", "Evil\x1eName", "--role", "asec", actor=ASEC
    )
    assert result.exit_code == 2 and "U+001E" in result.stderr, result.output
    assert "a@b.example" not in ready.ok("people", "list").stdout


def test_people_import_refuses_a_non_ascii_address_and_imports_nothing(ready: Ascn) -> None:
    text = (
        '[[people]]\nemail = "ok@th.example"\nname = "OK"\nrole = "asec"\n\n'
        '[[people]]\nemail = "nr@bangkok.exámple"\nname = "NR"\nrole = "asec"\n'
    )
    result = ready.run("people", "import", ready.file("more.toml", text), actor=ASEC)
    assert result.exit_code == 2 and "people #2" in result.stderr and "SMTPUTF8" in result.stderr
    assert "ok@th.example" not in ready.ok("people", "list").stdout


def test_nomination_refuses_a_csco_name_with_a_vertical_tab(ready: Ascn) -> None:
    text = 'member_state = "TH"\n\n[[cities]]\nname = "Bangkok"\ncsco = { name = "Anong\\u000bK.", email = "c@bkk.example" }\n'
    result = ready.run("nominate", "TH", "--file", ready.file("th.toml", text), actor="nr@th.example")
    assert result.exit_code == 2 and "U+000B" in result.stderr, result.output
    assert ready.json("show", "2018/nomination/th")["stage"] == "awaiting"


def test_config_sender_must_be_an_address(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[mail]\nsender = "ASCN <x@y.example>, evil@attacker.example"\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"\[mail\] sender"):
        load_config(config, explicit=True)


HOSTILE = Recipient("real@th.example", "Jösé, evil@attacker.example", "nr", "Asia/Bangkok", "TH")
ESCALATION = Recipient("officer@asec.example", 'ASEC "IMD" <x@y>', "asec", "Asia/Jakarta", "ID")


def _parse(raw: str) -> email.message.EmailMessage:
    message = email.message_from_string(raw, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_a_display_name_never_reads_as_a_second_recipient() -> None:
    deliverable = {"id": "2018/nomination/th", "title": "Nomination", "stage": "awaiting", "cycle": 2018}
    reminder = reminder_message(
        message_id="<r@ascn-workflow>",
        sender="ascn-secretariat@asean.example",
        now=utc("2018-02-14T02:00Z"),
        deliverable=deliverable,
        recipient=HOSTILE,
        deadline=utc("2018-02-28T16:00Z"),
        host_zone="Asia/Singapore",
        expected=[],
    )
    to = _parse(reminder.raw)["To"]
    assert [a.addr_spec for a in to.addresses] == ["real@th.example"]
    assert to.addresses[0].display_name == "Jösé, evil@attacker.example"
    overdue = overdue_message(
        message_id="<o@ascn-workflow>",
        sender="ascn-secretariat@asean.example",
        now=utc("2018-03-01T02:00Z"),
        deliverable=deliverable,
        deadline=utc("2018-02-28T16:00Z"),
        host_zone="Asia/Singapore",
        responsible=[HOSTILE],
        escalation=[ESCALATION],
        expected=[],
        lapsed=True,
    )
    parsed = _parse(overdue.raw)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["real@th.example"]
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["officer@asec.example"]
    assert [a.addr_spec for a in parsed["From"].addresses] == ["ascn-secretariat@asean.example"]
