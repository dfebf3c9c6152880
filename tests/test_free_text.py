"""Free text and dates typed by people: what a tester found after the calendar changes landed.

Notes and reasons are printed on terminals (`history`, `show`, `calendar history`) and put in mail,
so a terminal escape in them is refused like one in a name; a DATE has the same year range as an
instant (0001-01-01 or 9999-12-31 overflowed in some zone and ended in "internal error"); a city
that is known but not yet a member is told so, not "did you mean" itself.
"""

from __future__ import annotations

import pytest

from .conftest import ASEC, NR, Ascn, join
from .test_failures import one_line

ESCAPES = ["a\x1b]0;pwned\x07b", "n\x1b[2Jc", "bell\x07", "nul\x00"]


@pytest.mark.parametrize("note", ESCAPES)
def test_a_note_with_a_terminal_escape_is_refused_and_changes_nothing(ready: Ascn, note: str) -> None:
    before = ready.json("history", "2018/framework")
    result = ready.run("advance", "2018/framework", "circulate", "--note", note, actor=ASEC)
    one_line(result, 2, "--note")
    assert ready.json("history", "2018/framework") == before


def test_a_note_may_run_over_several_lines(ready: Ascn) -> None:
    ready.ok("advance", "2018/framework", "circulate", "--note", "first point\n\tsecond point", actor=ASEC)
    assert ready.json("history", "2018/framework")[-1]["note"] == "first point\n\tsecond point"


@pytest.mark.parametrize("reason", ["one\nline too many", "esc\x1b[31m", "tab\tis not plain"])
def test_a_reason_is_one_line_of_plain_text(ready: Ascn, reason: str) -> None:
    before = ready.json("calendar", "history")
    result = ready.run("calendar", "set", "jcm", "2018-10-16", "--reason", reason, actor=ASEC)
    one_line(result, 2, "--reason")
    result = ready.run("extend", "2018/framework", "--to", "2018-04-15", "--reason", reason, actor=ASEC)
    one_line(result, 2, "--reason")
    assert ready.json("calendar", "history") == before


def test_a_waiver_reason_with_an_escape_is_refused(ready: Ascn) -> None:
    result = ready.run("advance", "2018/framework", "circulate", "--waive", "x", "--reason", "ok\x1b[2J", actor=ASEC)
    one_line(result, 2, "--reason")


@pytest.mark.parametrize(
    "args",
    [
        ["calendar", "set", "scgw", "0001-01-01", "--reason", "far"],
        ["calendar", "set", "scgw", "2018-05-29", "--end", "9999-12-31", "--reason", "far", "--dry-run"],
        ["calendar", "set", "scgw", "1969-12-31", "--reason", "far", "--dry-run"],
        ["extend", "2018/framework", "--to", "9999-12-31", "--reason", "far"],
        ["extend", "2018/framework", "--to", "3000-01-01", "--reason", "far"],
    ],
)
def test_a_date_out_of_range_is_bad_input(ready: Ascn, args: list[str]) -> None:
    before = ready.json("show", "2018/framework")
    one_line(ready.run(*args, actor=ASEC), 2, "out of range")
    assert ready.json("show", "2018/framework") == before


def test_a_known_city_that_is_not_yet_a_member_is_told_so(ready: Ascn) -> None:
    result = ready.run("project", "add", "da-nang", "--title", "Smart lighting", actor=ASEC)
    stderr = one_line(result, 3, "not yet a member city")
    assert "did you mean" not in stderr
    assert "2018/nomination/vn" in stderr
    join(ready, "VN", ["Ha Noi", "Da Nang"], nr=NR["VN"])
    ready.ok("project", "add", "da-nang", "--title", "Smart lighting", actor=ASEC, now="2018-03-01T09:00+07:00")


@pytest.mark.parametrize(
    "value",
    ["Ja\x1b[2Jpan", "Japan\nKorea", "bell\x07", "A" * 2001, "\u202eJapan"],
    ids=["esc", "nl", "bel", "long", "rlo"],
)
def test_a_data_value_is_one_line_of_plain_text_like_a_reason(ready: Ascn, value: str) -> None:
    """`--data partner=…` is stored, printed by `history` and the report, and put in mail: the
    checks of a reason apply (an ESC was stored and drove the reader's terminal)."""
    join(ready, "VN", ["Ha Noi", "Da Nang"], nr=NR["VN"])
    before = ready.json("history", "2018/twinning/da-nang")
    result = ready.run("advance", "2018/twinning/da-nang", "match", "--data", f"partner={value}", actor=ASEC)
    one_line(result, 2, "--data partner")
    assert ready.json("history", "2018/twinning/da-nang") == before
    ready.ok("advance", "2018/twinning/da-nang", "match", "--data", "partner=  Japan ", actor=ASEC)
    assert ready.json("history", "2018/twinning/da-nang")[-1]["data"] == {"partner": "Japan"}


@pytest.mark.parametrize("cycle", ["²", "٢٠١٨"])
def test_a_cycle_in_other_digits_is_bad_input(ready: Ascn, cycle: str) -> None:
    """`str.isdigit` accepts "²", which `int` refuses: that was "internal error: ValueError"."""
    one_line(ready.run("status", "--cycle", cycle), 2, "--cycle")


@pytest.mark.parametrize("login", ["a\x1bb", "bell\x07", "rlo\u202e"])
def test_a_login_with_a_control_or_invisible_character_is_refused(ready: Ascn, login: str) -> None:
    """`people list` prints logins: an ESC in one was stored and drove the reader's terminal."""
    before = ready.json("people", "list")
    result = ready.run(
        "people", "add", "--email", "it@asec.example", "--name", "IT", "--role", "asec", "--login", login, actor=ASEC
    )
    one_line(result, 2, "--login")
    assert ready.json("people", "list") == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["project", "list", "--city", "bangkk"], "did you mean 'bangkok'"),
        (["status", "--workflow", "NOMINATION"], "did you mean 'nomination'"),
    ],
)
def test_a_mistyped_name_is_not_found_with_the_closest_one(ready: Ascn, args: list[str], needle: str) -> None:
    """README: a mistyped city or workflow is exit 3 with the closest known name; `project list
    --city bangkk` listed "0 projects" (exit 0), and an upper-case workflow got no suggestion."""
    one_line(ready.run(*args), 3, needle)


def test_the_schedulers_log_level_takes_any_case() -> None:
    """`ascn scheduler --log-level debug` was refused: only 'DEBUG' was accepted."""
    import click

    from ascn_workflow.cli import cli

    command = cli.get_command(click.Context(cli), "scheduler")  # commands are declared on demand
    assert command is not None
    option = next(p for p in command.params if p.name == "log_level")
    assert option.type.convert("debug", option, None) == "DEBUG"
