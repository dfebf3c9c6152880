"""Schema migrations with Alembic, shipped in the package. The only run-time user of SQLAlchemy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the commands import HEAD without loading SQLAlchemy
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0011"  # the newest revision; a test checks it against migrations/versions


def is_known(revision: str) -> bool:
    """Whether this version ships `revision`: a database a newer ascn_workflow upgraded holds one it does not."""
    return any(path.name.startswith(f"{revision}_") for path in (MIGRATIONS / "versions").glob("*.py"))


def newer_message(revision: str) -> str:
    return (
        f"the database schema is at migration {revision}, newer than this version of ascn_workflow knows "
        f"(its newest: {HEAD}): a newer ascn_workflow wrote it; install that version (pip install -U ascn_workflow)"
    )


def _config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for migrations (and tests that write through SQLAlchemy)."""
    from sqlalchemy import create_engine, event

    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept by the file: readers never block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


MIGRATION_LOCK = 0x4153434E  # "ASCN": the advisory lock that serialises migrations on PostgreSQL


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    engine = make_engine(url)
    if url.startswith("sqlite"):
        _one_writer(engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # One migration at a time per database: two `ascn init` on a fresh database both
                # created tables and the second failed ('relation "cycle" already exists'). The
                # second now waits for the first to commit, then finds the schema at head.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            command.upgrade(_config(connection), revision)
    finally:
        engine.dispose()


def _one_writer(engine: Engine) -> None:
    """On SQLite, migrate in one transaction that holds the write lock from its start (`BEGIN
    IMMEDIATE`): sqlite3 would otherwise run each CREATE TABLE outside any transaction, so two
    `ascn init` on a fresh file both created tables and the second failed ("table cycle already
    exists"). Now the second waits for the lock (the busy timeout), then finds the schema at head
    and does nothing."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the BEGIN below is the only one

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def script_head() -> str:
    """The newest revision as Alembic finds it in migrations/versions."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def autogenerate(url: str, message: str) -> None:
    """Developers: write a new revision from the difference between the declarations and the database."""
    from alembic import command

    engine = make_engine(url)
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
