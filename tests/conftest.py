"""Fixtures build the 2018 network from the real definition files in `workflows/`, never copies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ascn_workflow.app import App
from ascn_workflow.cli import cli
from ascn_workflow.config import load_config
from ascn_workflow.dates import parse_instant
from ascn_workflow.definitions import load
from ascn_workflow.spec import Definitions

from .postgres import postgres_admin_url  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
DATA = Path(__file__).resolve().parent / "data"

ASEC = "officer@asec.example"
SHEPHERD = "shepherd@mnd.gov.sg"
CHAIR = "chair@mnd.gov.sg"
NR = {"TH": "nr@th.example", "VN": "nr@vn.example", "MY": "nr@my.example", "SG": "nr@sg.example"}


@pytest.fixture(scope="session")
def defs() -> Definitions:
    return load(WORKFLOWS)


def write_config(folder: Path, db_url: str | None = None, extra: str = "") -> Path:
    config = folder / "config.toml"
    url = db_url or f"sqlite:///{folder / 'ascn.db'}"
    config.write_text(
        f'[database]\nurl = "{url}"\n\n[calendar]\ncycle = 2018\n\n[workflows]\ndir = "{WORKFLOWS}"\n\n'
        f'[mail]\nbackend = "file"\noutbox = "outbox"\n{extra}',
        encoding="utf-8",
    )
    return config


@dataclass
class Ascn:
    """Runs `ascn` through click's runner against one temporary database."""

    folder: Path
    config: Path

    def run(self, *args: str, actor: str | None = None, now: str | None = "2018-01-15T09:00+08:00") -> Result:
        env = {"ASCN_CONFIG": str(self.config), "ASCN_ACTOR": actor, "ASCN_NOW": now}
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    def ok(self, *args: str, **kw: Any) -> Result:
        result = self.run(*args, **kw)
        assert result.exit_code == 0, f"ascn {' '.join(args)} -> {result.exit_code}: {result.output}"
        return result

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kw).stdout)

    def app(self) -> App:
        return App(load_config(self.config, explicit=True))

    def file(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return str(path)


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that uses a database runs on the embedded SQLite and on a real PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[str]:
    """A new, empty database for the test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ascn.db'}"
        return
    from .postgres import fresh_database

    with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture
def ascn(tmp_path: Path, db_url: str) -> Ascn:
    return Ascn(tmp_path, write_config(tmp_path, db_url))


PEOPLE = f"""
[[people]]
email = "{ASEC}"
name = "ASEC officer, IMD"
role = "asec"

[[people]]
email = "{SHEPHERD}"
name = "Shepherd, Singapore"
role = "shepherd"

[[people]]
email = "{CHAIR}"
name = "Chair of the ASCN 2018"
role = "chair"
member_state = "SG"
""" + "".join(
    f'\n[[people]]\nemail = "{email}"\nname = "NR {code}"\nrole = "nr"\nmember_state = "{code}"\n'
    for code, email in NR.items()
)


def _build_ready(a: Ascn) -> Ascn:
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    return a


@pytest.fixture(scope="session")
def ready_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `ready` SQLite database, built once per session; each test gets a copy."""
    folder = tmp_path_factory.mktemp("ready-sqlite")
    _build_ready(Ascn(folder, write_config(folder)))
    return folder / "ascn.db"


@pytest.fixture(scope="session")
def ready_postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    """The `ready` PostgreSQL database, built once per session: each test's is created from it as a template."""
    import tempfile

    from sqlalchemy import create_engine, text

    from .postgres import fresh_database

    admin_url = request.getfixturevalue("postgres_admin_url")
    with fresh_database(admin_url) as url, tempfile.TemporaryDirectory(prefix="ascn-ready-") as tmp:
        _build_ready(Ascn(Path(tmp), write_config(Path(tmp), url)))
        name = url.rsplit("/", 1)[1]
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:  # a template may have no other session open
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
        admin.dispose()
        yield name


@pytest.fixture
def ready(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[Ascn]:
    """2018 opened, with ASEC, the shepherd, the Chair and four NRs in the directory: a copy of a
    database built once per session (what `init` and `people import PEOPLE` make)."""
    if backend == "sqlite":
        yield _sqlite_copy(request, tmp_path)
        return
    from .postgres import fresh_database

    template = request.getfixturevalue("ready_postgres")
    with fresh_database(request.getfixturevalue("postgres_admin_url"), template=template) as url:
        a = Ascn(tmp_path, write_config(tmp_path, url))
        a.file("people.toml", PEOPLE)
        yield a


@pytest.fixture
def sqlite_ready(request: pytest.FixtureRequest, tmp_path: Path) -> Ascn:
    """`ready`, on SQLite only: for tests that trace what sqlite3 runs, or that need no server."""
    return _sqlite_copy(request, tmp_path)


def _sqlite_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Ascn:
    import sqlite3

    source = sqlite3.connect(request.getfixturevalue("ready_sqlite"))
    target = sqlite3.connect(tmp_path / "ascn.db")
    source.backup(target)
    target.execute("PRAGMA journal_mode=WAL")
    target.close()
    source.close()
    a = Ascn(tmp_path, write_config(tmp_path))
    a.file("people.toml", PEOPLE)
    return a


def nomination(code: str, cities: list[str], nr: str | None = None, csco: bool = True) -> str:
    text = f'member_state = "{code}"\n'
    if nr is not None:
        text += f'\n[national_representative]\nname = "NR {code}"\nemail = "{nr}"\n'
    for city in cities:
        slug = city.lower().replace(" ", "-")
        text += f'\n[[cities]]\nname = "{city}"\n'
        if csco:
            text += f'csco = {{ name = "CSCO {city}", email = "csco@{slug}.example" }}\n'
    return text


def join(
    a: Ascn,
    code: str,
    cities: list[str],
    *,
    nr: str | None = None,
    actor: str | None = None,
    submitted: str = "2018-02-20T10:00+07:00",
    accepted: str = "2018-02-21T10:00+07:00",
) -> Result:
    """A member state's nomination submitted and accepted by ASEC: its cities join the network."""
    nr = nr or NR.get(code) or f"nr@{code.lower()}.example"
    text = nomination(code, cities, nr)
    a.ok("nominate", code, "--file", a.file(f"{code.lower()}.toml", text), actor=actor or nr, now=submitted)
    return a.ok("advance", f"2018/nomination/{code.lower()}", "accept", actor=ASEC, now=accepted)


def utc(text: str) -> Any:
    return parse_instant(text)


@pytest.fixture
def workflows_copy(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, target)
    yield target


@pytest.fixture
def mail_server() -> Iterator[Any]:
    from .mailserver import MailServer

    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_ascn(tmp_path: Path, mail_server: Any, db_url: str) -> Ascn:
    """An initialised 2018 database whose mail goes to the real SMTP server above."""
    config = write_config(tmp_path, db_url).read_text().replace('backend = "file"', 'backend = "smtp"')
    config += f'host = "127.0.0.1"\nport = {mail_server.port}\n'
    (tmp_path / "config.toml").write_text(config)
    a = Ascn(tmp_path, tmp_path / "config.toml")
    a.ok("init", now="2018-01-15T09:00+08:00")
    return a


FEBRUARY_PEOPLE = PEOPLE + "".join(
    f'\n[[people]]\nemail = "fp@{code.lower()}.example"\nname = "Focal point {code}"\nrole = "focal_point"\nmember_state = "{code}"\n'
    for code in ("TH", "VN", "ID")
)


def spawn_ascn(a: Ascn, *args: str, now: str, actor: str | None = None) -> Any:
    """`ascn` as a separate process against this test's database (for races and crashes)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": now}
    if actor:
        env["ASCN_ACTOR"] = actor
    return subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def start_scheduler(a: Ascn, log: Path, *args: str, now: str) -> Any:
    """`ascn scheduler` as a separate process (its log, at INFO, in `log`), returned once it is
    running: a SIGTERM that arrives while it is still starting kills it (exit -15) instead of
    stopping it after the pass under way, as a test that stops it at once would see now and then."""
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": now}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ascn_workflow", "scheduler", "--log-level", "info", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    give_up = time.monotonic() + 120
    while "scheduler started" not in log.read_text(errors="replace"):
        assert process.poll() is None, f"the scheduler exited: {log.read_text(errors='replace')}"
        assert time.monotonic() < give_up, "the scheduler did not start within two minutes"
        time.sleep(0.05)
    return process


def stored(app: App, table: str) -> list[Any]:
    """Every row of a table as SQLAlchemy reads it (not through the store's own statements)."""
    from sqlalchemy import select

    from ascn_workflow.store.migrate import make_engine
    from ascn_workflow.store.schema import TABLES

    engine = make_engine(app.config.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(TABLES[table])).all())
    finally:
        engine.dispose()
