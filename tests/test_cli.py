"""The CLI contract: exit codes, one-line errors (JSON with --json), nothing changed on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ASEC, NR, SHEPHERD, Ascn, nomination


def test_init_is_idempotent(ascn: Ascn) -> None:
    first = ascn.json("init")
    # 11 member states (Timor-Leste in the network from 2026) and 27 cities (the 26 pilots and Dili)
    assert len(first["opened"]) == 15 and first["network_rows_added"] == 38
    second = ascn.json("init")
    assert second["opened"] == [] and second["network_rows_added"] == 0
    assert len(ascn.json("status")) == 15


def test_commands_before_init_say_so(ascn: Ascn) -> None:
    result = ascn.run("status")
    assert result.exit_code == 3 and "ascn init" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["show", "2018/nomination/xx"], 3, "no deliverable"),
        (["status", "--member-state", "ZZ"], 3, "unknown member state"),
        (["status", "--workflow", "parade"], 3, "unknown workflow"),
        (["status", "--bogus"], 2, "No such option"),
        (["nominate", "TH", "--file", "/nonexistent/th.toml"], 3, "not found"),
        (["advance", "2018/framework", "circulate", "--at", "yesterday"], 2, "not an instant"),
        (["advance", "2018/framework", "circulate", "--at", "2018-13-45T10:00+08:00"], 2, "not an ISO 8601 instant"),
        (["advance", "2018/framework", "circulate", "--at", "2018-03-01T10:00"], 2, "no UTC offset"),
        (["advance", "2018/framework", "circulate", "--data", "partner"], 2, "KEY=VALUE"),
        (["advance", "2018/framework", "circulate", "--waive", "x"], 2, "--reason"),
        (["advance", "2018/framework", "adopt"], 4, "allowed: circulate"),
        (["advance", "2018/framework", "fly"], 4, "has no trigger 'fly'"),
    ],
)
def test_exit_codes(ready: Ascn, args: list[str], code: int, needle: str) -> None:
    result = ready.run(*args, actor=ASEC)
    assert result.exit_code == code, result.output
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_bad_clock_is_bad_input(ready: Ascn) -> None:
    result = ready.run("status", now="the ides of March")
    assert result.exit_code == 2 and "ASCN_NOW" in result.stderr


def test_permission_denied(ready: Ascn) -> None:
    unknown = ready.run("advance", "2018/framework", "circulate", actor="stranger@x.example")
    assert unknown.exit_code == 5 and "unknown actor" in unknown.stderr
    nobody = ready.run("advance", "2018/framework", "circulate", actor=None)
    assert nobody.exit_code == 5 and "--actor" in nobody.stderr
    thai_on_vn = ready.run(
        "nominate", "VN", "--file", ready.file("vn.toml", nomination("VN", ["Ha Noi"], NR["VN"])), actor=NR["TH"]
    )
    assert thai_on_vn.exit_code == 5 and "nr of VN" in thai_on_vn.stderr
    assert ready.json("show", "2018/nomination/vn")["stage"] == "awaiting"


def test_json_errors(ready: Ascn) -> None:
    result = ready.run("show", "2018/nope", "--json")
    assert result.exit_code == 3
    error = json.loads(result.stderr)
    assert error["error"] == "not_found" and error["exit_code"] == 3 and "2018/nope" in error["message"]
    refused = ready.run("advance", "2018/framework", "revise", "--json", actor=SHEPHERD)
    body = json.loads(refused.stderr)
    assert refused.exit_code == 4 and body["allowed"] == ["circulate"]


def test_refused_transition_changes_nothing(ready: Ascn) -> None:
    before = ready.json("show", "2018/framework")
    assert ready.run("advance", "2018/framework", "revise", actor=SHEPHERD).exit_code == 4
    assert ready.run("advance", "2018/framework", "circulate", actor=NR["TH"]).exit_code == 5
    after = ready.json("show", "2018/framework")
    assert after == before


def test_at_is_bounded_by_now_and_last_event(ready: Ascn) -> None:
    future = ready.run(
        "advance",
        "2018/framework",
        "circulate",
        "--at",
        "2018-03-21T10:00+08:00",
        actor=SHEPHERD,
        now="2018-03-20T10:00+08:00",
    )
    assert future.exit_code == 2 and "in the future" in future.stderr
    ready.ok(
        "advance",
        "2018/scgw",
        "convene",
        "--at",
        "2018-05-22T09:00+08:00",
        actor=SHEPHERD,
        now="2018-05-23T09:00+08:00",
    )
    before = ready.run(
        "advance",
        "2018/scgw",
        "conclude",
        "--at",
        "2018-05-21T09:00+08:00",
        actor=SHEPHERD,
        now="2018-05-26T09:00+08:00",
    )
    assert before.exit_code == 2 and "before the last event" in before.stderr
    event = ready.json("history", "2018/scgw")[0]
    assert event["effective_at"] == "2018-05-22T09:00:00+08:00" and event["recorded_at"] == "2018-05-23T09:00:00+08:00"


def test_show_lists_allowed_triggers_for_the_actor(ready: Ascn) -> None:
    as_asec = ready.json("show", "2018/framework", actor=ASEC)
    assert as_asec["allowed_triggers"] == ["circulate"]
    as_nr = ready.json("show", "2018/framework", actor=NR["TH"])
    assert as_nr["allowed_triggers"] == []
    human = ready.ok("show", "2018/framework", actor=ASEC).output
    assert "you may:  circulate" in human and "2018-03-31T23:59:59+08:00" in human


def test_people_add_and_list(ready: Ascn) -> None:
    ready.ok(
        "people",
        "add",
        "--email",
        "fp@kh.example",
        "--name",
        "Sok",
        "--role",
        "focal_point",
        "--member-state",
        "kh",
        actor=ASEC,
    )
    again = ready.ok(
        "people",
        "add",
        "--email",
        "fp@kh.example",
        "--name",
        "Sok",
        "--role",
        "focal_point",
        "--member-state",
        "KH",
        actor=ASEC,
    )
    assert "already held" in again.output
    listed = ready.json("people", "list", "--member-state", "KH")
    assert listed == [
        {
            "email": "fp@kh.example",
            "name": "Sok",
            "role": "focal_point",
            "member_state": "KH",
            "city": None,
            "granted_by": ASEC,
            "granted_at": "2018-01-15T01:00:00+00:00",
        }
    ]
    missing_scope = ready.run("people", "add", "--email", "x@y.example", "--name", "X", "--role", "nr", actor=ASEC)
    assert missing_scope.exit_code == 2 and "member_state" in missing_scope.stderr
    unknown_city = ready.run(
        "people", "add", "--email", "x@y.example", "--name", "X", "--role", "csco", "--city", "Atlantis", actor=ASEC
    )
    assert unknown_city.exit_code == 3 and "atlantis" in unknown_city.stderr
    human = ready.ok("people", "list", "--role", "nr").output
    assert "nr@th.example" in human


@pytest.mark.parametrize(
    ("bad_entry", "code", "needle"),
    [
        ('email = "bad\\nBcc: victim@x.example"\nname = "Eve"\nrole = "asec"', 2, "not a valid e-mail"),
        ('email = "eve@x.example"\nname = "Eve\\r\\nBcc: x@y.example"\nrole = "asec"', 2, "line break"),
        ('email = "eve@x.example"\nname = "Eve"\nrole = "emperor"', 2, "role 'emperor'"),
        ('email = "eve@x.example"\nname = "Eve"\nrole = "nr"\nmember_state = "XX"', 3, "unknown member state"),
    ],
)
def test_people_import_is_all_or_nothing(ready: Ascn, bad_entry: str, code: int, needle: str) -> None:
    before = ready.json("people", "list")
    text = '[[people]]\nemail = "good@kh.example"\nname = "Good"\nrole = "focal_point"\nmember_state = "KH"\n\n'
    text += f"[[people]]\n{bad_entry}\n"
    result = ready.run("people", "import", ready.file("bad.toml", text))
    assert result.exit_code == code and needle in result.stderr and "people #2" in result.stderr
    assert ready.json("people", "list") == before


def test_malformed_people_and_nomination_files(ready: Ascn) -> None:
    broken = ready.run("people", "import", ready.file("broken.toml", "[[people]\nemail="))
    assert broken.exit_code == 2 and "broken.toml" in broken.stderr
    cases = {
        "no cities": 'member_state = "TH"\n',
        "wrong state": nomination("VN", ["Ha Noi"]),
        "city of another state": nomination("TH", ["Bangkok", "Da Nang"]),
        "new city without zone": nomination("TH", ["Bangkok", "Atlantis"]),
        "not toml": "member_state = ",
        "bad csco email": 'member_state = "TH"\n[[cities]]\nname = "Bangkok"\ncsco = { name = "A", email = "nope" }\n',
    }
    for label, text in cases.items():
        result = ready.run("nominate", "TH", "--file", ready.file("n.toml", text), actor=NR["TH"])
        assert result.exit_code == 2, (label, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, label
    assert ready.json("show", "2018/nomination/th")["stage"] == "awaiting"


def test_a_city_new_to_the_network_joins_on_acceptance(ready: Ascn) -> None:
    text = nomination("TH", ["Bangkok", "Chiang Mai"], NR["TH"]).replace(
        'name = "Chiang Mai"\n', 'name = "Chiang Mai"\ntimezone = "Asia/Bangkok"\n'
    )
    ready.ok("nominate", "TH", "--file", ready.file("th.toml", text), actor=NR["TH"])
    accepted = ready.json("advance", "2018/nomination/th", "accept", actor=ASEC)
    assert "2018/action-plan/chiang-mai" in accepted["opened"]
    assert ready.json("show", "2018/twinning/chiang-mai")["zone"] == "Asia/Bangkok"


def test_status_filters(ready: Ascn) -> None:
    assert {r["id"] for r in ready.json("status", "--member-state", "th")} == {"2018/nomination/th"}
    assert len(ready.json("status", "--workflow", "nomination", "--state", "awaiting")) == 10
    late = ready.json("status", "--overdue", now="2018-03-01T09:00+08:00")
    assert len(late) == 10 and all(r["overdue"] for r in late)
    assert ready.json("status", "--overdue", now="2018-02-28T23:00+08:00") == []
    assert "2018/nomination/th" in ready.ok("status").output


def test_clock_comes_from_the_wall_when_not_set(ready: Ascn, freezer) -> None:  # type: ignore[no-untyped-def]
    freezer.move_to("2018-03-05T02:00:00Z")
    result = ready.run("advance", "2018/framework", "circulate", actor=SHEPHERD, now=None)
    assert result.exit_code == 0
    assert ready.json("history", "2018/framework")[0]["effective_at"] == "2018-03-05T10:00:00+08:00"


def test_config_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ascn_workflow.cli import cli

    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml"), "status"])
    assert missing.exit_code == 3 and "not found" in missing.stderr  # README: 3 is "not found", files included
    bad = tmp_path / "bad.toml"
    bad.write_text("[mail]\nbackend = 'pigeon'\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "status"])
    assert result.exit_code == 2 and "pigeon" in result.stderr


def test_the_command_map_names_the_modules_that_declare_each_command() -> None:
    """`ascn show` imports the module declaring `show` alone (start-up, issue 15): the map says
    which module declares each command, and nothing declares a command the map leaves out."""
    import click

    from ascn_workflow.cli import COMMANDS, cli

    def declared_in(command: click.Command) -> set[str]:
        found = {command.callback.__module__.rsplit(".", 1)[1]} if command.callback else set()
        for sub in command.commands.values() if isinstance(command, click.Group) else ():
            found |= declared_in(sub)
        return found

    names = cli.list_commands(click.Context(cli))
    assert set(names) == set(COMMANDS) and "show" in names
    for name in names:
        assert declared_in(cli.commands[name]) == set(COMMANDS[name]), name


def test_show_imports_only_what_it_needs(ready: Ascn, backend: str) -> None:
    """What makes `ascn show` start quickly, held without timing anything: no rich when the output is
    no terminal, no transitions, no SQLAlchemy, no mail or calendar libraries, no other commands, and
    on SQLite no dataclasses module (the records are msgspec Structs)."""
    import subprocess
    import sys

    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(' '.join(sorted(sys.modules)) + '\\n'))\n"
        "from ascn_workflow.cli import main\n"
        "main()\n"
    )
    env = {**__import__("os").environ, "ASCN_CONFIG": str(ready.config), "ASCN_NOW": "2018-02-20T09:00+08:00"}
    done = subprocess.run(
        [sys.executable, "-c", probe, "show", "2018/framework"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "2018/framework" in done.stdout and "┃ trigger" in done.stdout
    loaded = set(done.stderr.split())
    heavy = {"rich", "transitions", "sqlalchemy", "jinja2", "icalendar", "slugify", "alembic"}
    heavy |= {f"ascn_workflow.cli.{m}" for m in ("acting", "admin", "calendar_changes", "due_work", "serving")}
    if backend == "sqlite":
        heavy |= {"psycopg", "email.message"}  # psycopg reads its version with importlib.metadata, over email
        heavy.add("dataclasses")  # psycopg's own; ours are msgspec Structs: a @dataclass costs ~0.4 ms at start
    assert loaded & heavy == set()
    assert "ascn_workflow.cli.reading" in loaded


def test_a_command_declared_by_two_modules_is_whole_after_either_was_loaded() -> None:
    """In a fresh process (this one has loaded every command): after `show` loaded reading.py, which
    declares the `calendar` group, `calendar` still has the `set` that calendar_changes.py adds."""
    import subprocess
    import sys

    probe = (
        "from click.testing import CliRunner\n"
        "from ascn_workflow.cli import cli\n"
        "import ascn_workflow.cli.reading\n"
        "print(CliRunner().invoke(cli, ['calendar', '--help']).output)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "  set " in done.stdout and "  history " in done.stdout, done.stdout


def test_a_password_in_the_database_url_is_never_printed(tmp_path: Path, backend: str, db_url: str) -> None:
    """`no ASCN database at URL` (and `ascn serve`'s banner) printed `postgresql://user:PASSWORD@…`."""
    from ascn_workflow.config import shown_url

    from .conftest import write_config

    if backend == "postgresql":  # the test cluster trusts loopback: any password connects
        db_url = db_url.replace("postgres@", "postgres:s3cret-pw@", 1)
    a = Ascn(tmp_path, write_config(tmp_path, db_url))
    result = a.run("status")
    assert result.exit_code == 3 and "s3cret-pw" not in result.stderr, result.stderr
    assert shown_url("postgresql+psycopg://ascn:s3cret-pw@db:5432/ascn") == "postgresql+psycopg://ascn:***@db:5432/ascn"
    assert shown_url("postgresql+psycopg://ascn@db/ascn") == "postgresql+psycopg://ascn@db/ascn"
    assert shown_url("sqlite:////tmp/a@b:c/ascn.db") == "sqlite:////tmp/a@b:c/ascn.db"
