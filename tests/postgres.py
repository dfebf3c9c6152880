"""A real PostgreSQL for the tests: $ASCN_TEST_POSTGRES_URL (CI starts one), or a throwaway cluster.

Without either, PostgreSQL variants are skipped with the reason shown, unless
$ASCN_REQUIRE_POSTGRES is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .mailserver import free_port


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    bindir = _binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries (apt-get install postgresql)")
    folder = tempfile.mkdtemp(prefix="ascn-pg-")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = os.path.join(folder, "data"), free_port()
    subprocess.run(
        _as_postgres([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-o", options, "-w", "-l", f"{folder}/log", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("ASCN_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if _binaries() is None:
        if os.environ.get("ASCN_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required ($ASCN_REQUIRE_POSTGRES) but not installed")
        pytest.skip("PostgreSQL not installed: set $ASCN_TEST_POSTGRES_URL or apt-get install postgresql")
    with throwaway_cluster() as started:
        yield started


@contextmanager
def fresh_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new database for one test (empty, or a copy of the database `template`), dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"ascn_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
