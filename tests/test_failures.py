"""Issue 16 items 10 and 12: every failure a user can meet is one line and its documented exit code.

Unusable config files, out-of-range instants, non-UTF-8 arguments, a folder given as --output, a
read-only, corrupt or full SQLite file: one line on stderr (a JSON object with --json), never a
traceback or "internal error". A reader that closes the pipe early ends the command quietly.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ascn_workflow.cli import PIPE_CLOSED, cli

from .conftest import ASEC, PEOPLE, Ascn, write_config


def one_line(result: Result | subprocess.CompletedProcess[str], code: int, needle: str = "") -> str:
    exit_code = result.exit_code if isinstance(result, Result) else result.returncode
    stderr = result.stderr
    assert exit_code == code, (exit_code, stderr)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr and "sqlalchemy" not in stderr.lower()
    assert needle in stderr, stderr
    return stderr


def run(config: Path, *args: str, now: str = "2018-01-15T09:00+08:00", actor: str | None = ASEC) -> Result:
    env = {"ASCN_CONFIG": str(config), "ASCN_NOW": now, "ASCN_ACTOR": actor}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe\x00\x01binary", "not a text file"),
        (("a = " + "[" * 3000 + "]" * 3000).encode(), "nested too deeply"),
        (b'database = "x"\n', "[database] must be a table"),
        (b'[mail]\nsender = "A <a@b.example>, evil@attacker.example"\n', "[mail] sender"),
    ],
)
def test_an_unusable_config_file_is_one_line_of_bad_input(tmp_path: Path, content: bytes, needle: str) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    one_line(run(config, "status"), 2, needle)
    as_json = json.loads(one_line(run(config, "status", "--json"), 2))
    assert as_json["exit_code"] == 2 and needle in as_json["message"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[reminders]\nlocal_hour = 1e400\n", "[reminders] local_hour must be a whole number"),
        (b'[reminders]\noffsets_days = ["x"]\n', "[reminders] offsets_days must be a whole number"),
        (b"[reminders]\noffsets_days = 7\n", "[reminders] offsets_days must be a list"),
        (b"[reminders]\noffset_days = [3]\n", "unknown [reminders] key 'offset_days'"),
        (b"[reminder]\noffsets_days = [3]\n", "unknown section [reminder]"),
        (b'[calendar]\ncycle = "abc"\n', "[calendar] cycle must be a whole number"),
        (b"[web]\nsession_hours = 99999999999\n", "[web] session_hours must be a whole number"),
        (b"[web]\nlink_minutes = 1e300\n", "[web] link_minutes must be a whole number"),
        (b'[mail]\nport = "x"\n', "[mail] port must be a whole number"),
    ],
)
def test_a_config_value_of_the_wrong_kind_or_a_misspelt_key_is_one_line(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    """A float where a whole number goes ended in "internal error" (1e400) or a timedelta overflow
    at sign-in; a misspelt key or section was silently ignored, so the setting never applied."""
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    one_line(run(config, "status"), 2, needle)


def test_a_database_of_a_newer_schema_says_to_install_a_newer_version(ready: Ascn) -> None:
    """A database a newer ascn_workflow upgraded: `db upgrade` cannot help (Alembic failed with
    "internal error: Can't locate revision"), so no command may tell the user to run it."""
    from ascn_workflow.config import load_config
    from ascn_workflow.store.migrate import HEAD, make_engine

    engine = make_engine(load_config(ready.config, explicit=True).database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        for args in (["status"], ["db", "upgrade"], ["advance", "2018/framework", "circulate"]):
            stderr = one_line(ready.run(*args, actor=ASEC), 2, "newer than this version")
            assert "db upgrade" not in stderr
        current = ready.ok("db", "current")
        assert "9999" in current.stdout and "install a newer" in current.stdout
        with engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{HEAD}'")
    finally:
        engine.dispose()
    assert ready.json("history", "2018/framework") == []


@pytest.mark.parametrize(
    ("args", "now", "needle"),
    [
        (["advance", "2018/framework", "circulate", "--at", "0001-01-01T00:00+00:00"], None, "out of range"),
        (["advance", "2018/framework", "circulate", "--at", "9999-12-31T23:00-12:00"], None, "out of range"),
        (["status"], "9999-12-31T23:59+00:00", "ASCN_NOW"),
        (["status"], "0001-01-01T00:00+08:00", "ASCN_NOW"),
        (["advance", "2018/nomination/th", "submit", "--data", "national_representative=x"], None, "nominate"),
        (["advance", "2018/nomination/th", "submit", "--data", "cities=x"], None, "nominate"),
        (["diagram", "framework", "--output", "."], None, "is a folder"),
    ],
)
def test_out_of_range_input_is_one_line_of_bad_input(
    ready: Ascn, args: list[str], now: str | None, needle: str
) -> None:
    before = ready.json("history", "2018/framework")
    result = ready.run(*args, actor=ASEC, now=now or "2018-03-01T09:00+08:00")
    one_line(result, 2, needle)
    result = ready.run(*args, "--json", actor=ASEC, now=now or "2018-03-01T09:00+08:00")
    if "--json" in " ".join(args) or args[0] != "diagram":  # diagram has no --json: click says so
        assert json.loads(result.stderr)["exit_code"] == 2
    assert ready.json("history", "2018/framework") == before


def spawn(config: Path, *args: str | bytes, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": "2018-01-15T09:00+08:00", "ASCN_ACTOR": ASEC}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "ascn_workflow", *args], env=env, text=True, capture_output=True, timeout=120, **kw
    )


@pytest.mark.parametrize("source", ["fifo", "/dev/zero", "folder"])
def test_a_named_file_that_is_a_pipe_a_device_or_a_folder_is_one_line(ready: Ascn, source: str) -> None:
    """`nominate --file`, `people import`, `import` and `simulate --scenario` read whatever they were
    given: a FIFO blocked the command for good, /dev/zero never ended (memory ran out)."""
    path = ready.folder / source
    if source == "fifo":
        os.mkfifo(path)
    elif source == "folder":
        path.mkdir()
    else:
        path = Path(source)
    before = ready.json("show", "2018/nomination/th")
    commands = [
        ["nominate", "TH", "--file", str(path)],
        ["people", "import", str(path)],
        ["import", str(path)],
        ["simulate", "--scenario", str(path), "--db", str(ready.folder / "sim" / "ascn.db")],
    ]
    for args in commands:
        one_line(spawn(ready.config, *args), 2, str(path))
    assert ready.json("show", "2018/nomination/th") == before


@pytest.mark.slow
def test_a_non_utf8_argument_is_one_line_of_bad_input(ready: Ascn) -> None:
    one_line(spawn(ready.config, "show", b"2018/nomination/\xff"), 2, "not valid UTF-8")
    assert json.loads(spawn(ready.config, "show", b"\xff", "--json").stderr)["exit_code"] == 2


def _closed_pipe(config: Path, *args: str) -> tuple[int, str]:
    """Run with stdout a pipe whose reader is already gone: every write fails with EPIPE."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": "2018-01-15T09:00+08:00"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", *args], env=env, stdout=write, stderr=subprocess.PIPE, text=True
    )
    os.close(write)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


@pytest.mark.slow
@pytest.mark.parametrize("args", [["framework"], ["status", "--json"], ["--help"], ["people", "list"]])
def test_a_closed_pipe_is_a_quiet_end(ready: Ascn, args: list[str]) -> None:
    code, stderr = _closed_pipe(ready.config, *args)
    assert (code, stderr) == (PIPE_CLOSED, "")


# ---------------------------------------------------------------------------- the SQLite file itself


@pytest.fixture
def sqlite_ascn(tmp_path: Path) -> Iterator[Ascn]:
    a = Ascn(tmp_path, write_config(tmp_path))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    yield a
    subprocess.run(["chattr", "-i", str(tmp_path / "ascn.db")], check=False)


@pytest.mark.slow
def test_an_immutable_database_file_is_one_line(sqlite_ascn: Ascn) -> None:
    db = sqlite_ascn.folder / "ascn.db"
    subprocess.run(["chattr", "+i", str(db)], check=True)  # read-only even for root
    # Separate processes: a connection this process opened before the change could still write.
    result = spawn(sqlite_ascn.config, "people", "add", "--email", "x@y.example", "--name", "X", "--role", "asec")
    one_line(result, 1, "read-only")
    as_json = spawn(sqlite_ascn.config, "advance", "2018/framework", "circulate", "--json")
    assert json.loads(as_json.stderr)["message"].startswith("the database file is read-only")
    shown = spawn(sqlite_ascn.config, "show", "2018/framework", "--json")
    assert json.loads(shown.stdout)["stage"] == "drafting"  # reading still works


@pytest.mark.slow
def test_a_corrupt_database_file_is_one_line(sqlite_ascn: Ascn) -> None:
    db = sqlite_ascn.folder / "ascn.db"
    db.write_bytes(b"this is not an SQLite file, it was overwritten" * 100)
    for log in (db.with_name("ascn.db-wal"), db.with_name("ascn.db-shm")):  # else page 1 is read from the WAL
        log.unlink(missing_ok=True)
    one_line(spawn(sqlite_ascn.config, "status"), 1, "not an SQLite database")
    one_line(spawn(sqlite_ascn.config, "advance", "2018/framework", "circulate"), 1, "not an SQLite database")


@pytest.mark.slow
def test_a_database_that_cannot_grow_is_one_line_and_keeps_what_it_had(sqlite_ascn: Ascn) -> None:
    db = sqlite_ascn.folder / "ascn.db"
    backup = sqlite_ascn.folder / "before.db"
    shutil.copy(db, backup)
    limit = 4096  # files may not grow past 4 KiB: the journal cannot be written

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = spawn(sqlite_ascn.config, "advance", "2018/framework", "circulate", preexec_fn=small_files)
    one_line(result, 1, "nothing was half-applied")
    assert sqlite_ascn.json("show", "2018/framework")["stage"] == "drafting"


def test_a_database_url_naming_a_folder_is_one_line_of_bad_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    config = write_config(tmp_path, f"sqlite:///{folder}")
    for args in (["status"], ["init"], ["db", "current"], ["db", "upgrade"], ["show", "2018/framework"]):
        line = one_line(run(config, *args), 2, "not a database file")
        assert str(folder) in line and "ascn init" not in line and "writable" not in line
    assert list(folder.iterdir()) == []  # nothing created in it
