"""Database failures as one line that says what happened and what to do (issue 16, items 10-11).

The drivers (sqlite3, psycopg) and SQLAlchemy, which wraps them, describe a read-only file, a
full disk or a server that went away over several lines of SQL. The CLI and the scheduler pass
any exception here; what is a database failure comes back as an `AscnError` with the exit code
of SPEC §6, the rest as None (a bug, reported as such). Nothing here imports a driver: the type's
module tells which driver raised it.

Every command writes in transactions that commit whole or not at all, so a failure mid-command
leaves nothing half-applied: the message says so, because it is what the user needs to know.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from .errors import AscnError, Conflict, NotFound, Unavailable

ROLLED_BACK = "nothing was half-applied (the step in progress was rolled back)"
# (what the driver says, lowercased) -> (error class, one line). First match wins.
PATTERNS: tuple[tuple[str, type[AscnError], str], ...] = (
    (
        "readonly database",
        Unavailable,
        "the database file is read-only: give this user write access to it and its folder",
    ),
    ("read-only", Unavailable, "the database is read-only: give this user write access, or use a writable database"),
    ("database or disk is full", Unavailable, f"the disk holding the database is full: free some space; {ROLLED_BACK}"),
    ("could not extend file", Unavailable, f"the database server's disk is full: free some space; {ROLLED_BACK}"),
    ("no space left", Unavailable, f"the disk holding the database is full: free some space; {ROLLED_BACK}"),
    (
        "file is not a database",
        Unavailable,
        "the database file is not an SQLite database (corrupt or another file): restore it from a backup or `ascn export`",
    ),
    ("malformed", Unavailable, "the database file is corrupt: restore it from a backup or an `ascn export` file"),
    (
        "unable to open database file",
        Unavailable,
        "cannot open the database file: check that its folder exists and is writable",
    ),
    ("database is locked", Conflict, f"the database stayed locked by another process: {ROLLED_BACK}; try again"),
    ("disk i/o error", Unavailable, f"the disk holding the database failed to read or write; {ROLLED_BACK}"),
    (
        "too many clients",
        Unavailable,
        "the database server has no free connections (too many clients): try again shortly",
    ),
    ("remaining connection slots", Unavailable, "the database server has no free connections: try again shortly"),
    (
        "server closed the connection",
        Unavailable,
        f"the database went away mid-command: {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "terminating connection",
        Unavailable,
        f"the database went away mid-command (the server shut down): {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "connection is closed",
        Unavailable,
        f"the database went away mid-command: {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "consuming input failed",
        Unavailable,
        f"the database went away mid-command: {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "connection lost",
        Unavailable,
        f"the database went away mid-command: {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "could not receive data",
        Unavailable,
        f"the database went away mid-command: {ROLLED_BACK}; run it again when the server is back",
    ),
    (
        "connection refused",
        Unavailable,
        "cannot connect to the database: the server refused the connection (is it running?)",
    ),
)
DRIVERS = ("sqlite3", "psycopg", "sqlalchemy")
MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]*)" does not exist')


def connect_failure(reason: str, url: str | None = None) -> AscnError:
    """The one wording of a PostgreSQL connection that could not be opened, whichever command (or
    SQLAlchemy, for `init` and `db upgrade`) tried: psycopg says it over several lines, the first of
    which says what happened. A database that does not exist is not found (exit 3) and says how to
    create it; the rest cannot be used now (exit 1)."""
    text = " ".join(line.strip() for line in reason.strip().splitlines() if line.strip()) or "no reason given"
    lowered = text.lower()
    missing = MISSING_DATABASE.search(text)
    if missing is not None:
        return NotFound(_missing_database(missing.group("name"), url))
    if "connection refused" in lowered:
        return Unavailable("cannot connect to the database: the server refused the connection (is it running?)")
    detail = re.sub(r"^connection failed:\s*", "", text)
    detail = re.sub(r"^connection to server at .*?failed:\s*(FATAL:\s*)?", "", detail)
    return Unavailable(f"cannot connect to the database: {detail}")


def _missing_database(name: str, url: str | None) -> str:
    """Where the database should be and the `createdb` that makes it (README, Running on PostgreSQL)."""
    command = ["createdb"]
    where = ""
    if url is not None:
        parts = urlsplit(url)
        if parts.hostname:
            command += ["-h", parts.hostname]
            where = f" on {parts.hostname}" + (f":{parts.port}" if parts.port else "")
        if parts.port:
            command += ["-p", str(parts.port)]
        if parts.username:
            command += ["-O", unquote(parts.username)]  # owned by the user ascn connects as
    command.append(name)
    return (
        f'the PostgreSQL database "{name}"{where} does not exist: create it once on the server '
        f"(`{' '.join(command)}`, as a user allowed to create databases), then run `ascn init`"
    )


def _driver_error(error: BaseException) -> BaseException | None:
    """The driver's own exception inside `error` (SQLAlchemy keeps it as `.orig`), if it is one."""
    inner = getattr(error, "orig", None)
    candidate = inner if isinstance(inner, BaseException) else error
    module = type(candidate).__module__.split(".")[0]
    return candidate if module in DRIVERS else None


def known_failure(error: BaseException) -> AscnError | None:
    """The one line for a database failure this module recognises by what the driver says."""
    raised = _driver_error(error)
    lowered = str(raised).lower() if raised is not None else ""
    full = "too many clients" in lowered or "connection slots" in lowered
    if raised is not None and lowered.startswith("connection failed:") and not full:  # psycopg never connected
        return connect_failure(str(raised))
    for needle, kind, message in PATTERNS:
        if raised is not None and needle in lowered:
            return kind(message)
    return None


def database_failure(error: BaseException) -> AscnError | None:
    """One line for a database failure, or None when `error` is not one."""
    raised = _driver_error(error)
    if raised is None:
        return None
    known = known_failure(error)
    if known is not None:
        return known
    text = str(raised).strip()
    name = type(raised).__name__
    if name in ("IntegrityError", "UniqueViolation"):
        return Conflict(f"another command changed the same records at the same moment: {ROLLED_BACK}; run it again")
    if name in ("SerializationFailure", "DeadlockDetected", "StaleDataError"):
        return Conflict(f"another command changed the same records at the same moment: {ROLLED_BACK}; run it again")
    if name in ("OperationalError", "InterfaceError", "DatabaseError"):
        first = text.splitlines()[0] if text else name
        return Unavailable(f"the database failed: {first}; {ROLLED_BACK}")
    return None


T = TypeVar("T")


def retrying(work: Callable[[], T], attempts: int = 5) -> T:
    """Run an idempotent command's transaction again when it lost a race (a unique key another
    process took first, a serialization failure): each attempt reads afresh, so the retry finds
    what the winner wrote and does the rest. After `attempts`, the Conflict (exit 6) stands."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as error:
            failure = error if isinstance(error, Conflict) else database_failure(error)
            if not isinstance(failure, Conflict) or attempt == attempts:
                if failure is not None and failure is not error:
                    raise failure from None
                raise
    raise AssertionError("unreachable")
