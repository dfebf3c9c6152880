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
