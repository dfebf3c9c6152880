"""Issue 16 item 11: PostgreSQL going away, and running out of connections.

A command whose connection is killed mid-transaction says in one line that the database went
away and nothing was half-applied; the scheduler logs one line per failed pass and one when it
recovers; a server with no free connection slot is retried for a bounded time.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ascn_workflow import scheduling

from .conftest import ASEC, PEOPLE, Ascn, write_config


def _plain(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@pytest.fixture
def pg(tmp_path: Path, postgres_admin_url: str) -> Iterator[tuple[Ascn, str, str]]:
    """An initialised database owned by a role of its own (not a superuser: limits apply to it)."""
    admin = _plain(postgres_admin_url)
    name, role = f"ascn_{uuid.uuid4().hex[:10]}", f"ascn_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN')
        c.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    base = postgres_admin_url.rsplit("/", 1)[0].replace("postgres@", f"{role}@")
    url = f"{base}/{name}"
    a = Ascn(tmp_path, write_config(tmp_path, url))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", PEOPLE))
    yield a, admin, name
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'DROP ROLE IF EXISTS "{role}"')


def _spawn(a: Ascn, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": "2018-03-20T10:00+08:00", "ASCN_ACTOR": ASEC}
    return subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", *args],
        env={**full, **(env or {})},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition: object, what: str) -> None:
    for _ in range(600):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _connect_once_free(url: str) -> psycopg.Connection[Any]:
    """Connect as soon as the role's slot is free: a terminated or closed backend leaves the server
    a moment after `pg_terminate_backend` or `close` return (and counts against the limit until it
    does), so a connection at once is refused now and then ("too many connections for role")."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return psycopg.connect(url)
        except psycopg.OperationalError as error:
            if "too many connections" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.slow
def test_a_connection_killed_mid_command_is_one_line_and_nothing_half_applied(pg: tuple[Ascn, str, str]) -> None:
    a, admin, name = pg
    with psycopg.connect(admin.rsplit("/", 1)[0] + f"/{name}") as holder:
        holder.execute("SELECT * FROM deliverable WHERE id = '2018/framework' FOR UPDATE")  # advance will wait
        command = _spawn(a, "advance", "2018/framework", "circulate")
        with psycopg.connect(admin, autocommit=True) as killer:

            def waiting() -> bool:
                row = killer.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (name,)
                ).fetchone()
                return row is not None

            _wait_for(waiting, "the advance to wait on the row lock")
            killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            )
        _, err = command.communicate(timeout=120)
        holder.rollback()
    assert command.returncode == 1, err
    assert len(err.strip().splitlines()) == 1 and "went away" in err and "half-applied" in err, err
    assert "sqlalchemy" not in err.lower() and "internal error" not in err
    assert a.json("show", "2018/framework")["stage"] == "drafting"
    assert a.json("history", "2018/framework") == []


def test_the_scheduler_logs_one_line_per_failed_pass_and_one_on_recovery(
    pg: tuple[Ascn, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    a, admin, name = pg
    config = str(a.config)
    scheduling.run_pass(config, "2018-02-14T12:00+08:00")  # connected and working
    with psycopg.connect(admin, autocommit=True) as c:  # the outage: no connection is allowed in
        c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ascn.scheduler"):
        scheduling.run_pass(config, "2018-02-15T12:00+08:00")
        scheduling.run_pass(config, "2018-02-16T12:00+08:00")
        failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(failures) == 2 and all(r.exc_info is None for r in failures), caplog.text
        assert all("\n" not in r.getMessage() for r in failures)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        caplog.clear()
        scheduling.run_pass(config, "2018-02-17T12:00+08:00")
    assert [r.getMessage() for r in caplog.records if "succeeded again" in r.getMessage()] == [
        "due-work pass succeeded again after 2 failed passes"
    ]
    scheduling._apps.clear()


@pytest.mark.slow
def test_no_free_connection_is_retried_for_a_bounded_time(pg: tuple[Ascn, str, str]) -> None:
    a, admin, name = pg
    role = a.config.read_text().split("postgresql+psycopg://", 1)[1].split("@", 1)[0]
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT 1')
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )  # this process's
    url = admin.rsplit("/", 1)[0].replace("postgres@", f"{role}@") + f"/{name}"
    held = _connect_once_free(url)  # the one slot, taken
    refused = _spawn(a, "status", "--json", env={"ASCN_CONNECT_RETRY_SECONDS": "0.5"})
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and len(err.strip().splitlines()) == 1 and "no free connections" in err, err
    waiting = _spawn(a, "status", "--json", env={"ASCN_CONNECT_RETRY_SECONDS": "60"})
    threading.Timer(1.0, held.close).start()  # the slot frees up while the command retries
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert len(json.loads(out)) == 15


COMMANDS = [["status"], ["init"], ["db", "current"], ["db", "upgrade"], ["show", "2018/framework"], ["tick"]]


def _one_line(a: Ascn, args: list[str], code: int) -> str:
    result = a.run(*args, actor=ASEC)
    stderr = result.stderr
    assert result.exit_code == code, (args, result.exit_code, stderr)
    assert len(stderr.strip().splitlines()) == 1 and "\t" not in stderr, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr and "half-applied" not in stderr, stderr
    return stderr


def test_an_unreachable_server_is_the_same_line_for_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASCN_CONNECT_RETRY_SECONDS", "1")
    a = Ascn(tmp_path, write_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/x"))  # nothing listens on 1
    lines = {_one_line(a, args, 1) for args in COMMANDS}
    assert lines == {"ascn: cannot connect to the database: the server refused the connection (is it running?)\n"}


def test_a_database_that_does_not_exist_says_how_to_create_it(tmp_path: Path, postgres_admin_url: str) -> None:
    name = f"ascn_missing_{uuid.uuid4().hex[:8]}"
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    a = Ascn(tmp_path, write_config(tmp_path, url))
    lines = {_one_line(a, args, 3) for args in COMMANDS}
    assert len(lines) == 1, lines
    line = lines.pop()
    assert f'database "{name}"' in line and "does not exist" in line and "ascn init" in line
    assert f"-O postgres {name}`" in line and line.count("createdb -h ") == 1


def test_a_portal_whose_connections_the_server_closed_answers_every_request(pg: tuple[Ascn, str, str]) -> None:
    """A database restart while the portal's threads keep their connections: each thread's next
    request connects again instead of failing (it was "internal error", once per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from ascn_workflow.dates import parse_instant

    from .portal import Clock, Portal, free_port

    a, admin, name = pg
    portal = Portal(a, Clock(parse_instant("2018-02-10T09:00+08:00")), free_port())
    portal.start()

    def hit(_i: int) -> int:
        return httpx.get(portal.url + "/framework.json", timeout=60).status_code

    try:
        with ThreadPoolExecutor(10) as pool:
            assert set(pool.map(hit, range(50))) == {200}  # several threads, each with its connection
            with psycopg.connect(admin, autocommit=True) as c:
                killed = c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                ).fetchall()
                assert killed and all(ok for (ok,) in killed)

                def gone() -> bool:
                    left = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
                    return left is not None and left[0] == 0

                _wait_for(gone, "the terminated backends to exit")
            assert list(pool.map(hit, range(50))) == [200] * 50
    finally:
        portal.stop()


def test_a_portal_request_whose_connection_is_killed_mid_transaction_is_a_503_page(pg: tuple[Ascn, str, str]) -> None:
    """The server ends a portal act's connection while it waits on a row lock: the page says the
    database went away and nothing was half-applied (503, one line), never an internal error."""
    import email
    import re
    from email import policy

    import httpx

    from ascn_workflow.dates import parse_instant

    from .portal import Clock, Portal, free_port

    a, admin, name = pg
    portal = Portal(a, Clock(parse_instant("2018-02-10T09:00+08:00")), free_port())
    portal.start()
    csrf_field = re.compile(r'name="csrf" value="([^"]+)"')
    try:
        with httpx.Client(base_url=portal.url, timeout=120) as client:
            csrf = csrf_field.search(client.get("/").text).group(1)  # type: ignore[union-attr]
            assert client.post("/signin", data={"email": ASEC, "csrf": csrf}).status_code == 200
            (mail,) = portal.outbox().glob("*.eml")
            text = email.message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",))
            link = re.search(r"/signin/[A-Za-z0-9_-]+", text.get_content()).group(0)  # type: ignore[union-attr]
            csrf = csrf_field.search(client.get(link).text).group(1)  # type: ignore[union-attr]
            assert client.post(link, data={"csrf": csrf}).status_code == 303
            page = "/deliverables/2018/framework"
            csrf = csrf_field.search(client.get(page).text).group(1)  # type: ignore[union-attr]
            with psycopg.connect(admin.rsplit("/", 1)[0] + f"/{name}") as holder:
                holder.execute("SELECT * FROM deliverable WHERE id = '2018/framework' FOR UPDATE")
                answer: list[httpx.Response] = []
                act = threading.Thread(
                    target=lambda: answer.append(
                        client.post(page + "/advance", data={"csrf": csrf, "trigger": "circulate"})
                    )
                )
                act.start()
                with psycopg.connect(admin, autocommit=True) as killer:
                    lock_wait = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                    _wait_for(lambda: killer.execute(lock_wait, (name,)).fetchone() is not None, "the act to wait")
                    killer.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND wait_event_type = 'Lock'",
                        (name,),
                    )
                act.join(timeout=120)
                holder.rollback()
            assert answer and answer[0].status_code == 503, answer
            assert "went away" in answer[0].text and "half-applied" in answer[0].text
            assert client.get(page).status_code == 200  # the next request connects again
    finally:
        portal.stop()
    assert a.json("history", "2018/framework") == []
