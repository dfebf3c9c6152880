"""Looking after the database: migrations, the audit of the hash chains, export and restore."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from msgspec.structs import asdict

from . import document_files
from .app import App
from .audit import (
    Problem,
    replay_problems,
    verify_chain,
    verify_changes,
    verify_directory,
    verify_document_chains,
    verify_documents,
    verify_endorsed_versions,
    verify_milestones,
)
from .errors import BadInput
from .export_check import check_export
from .opening import PROJECT_FIELDS
from .spec import Definitions
from .store import HEAD

EXPORT_FORMAT = "ascn-export"
EXPORT_VERSION = 2  # 2: the outputs' vocabulary (from_stage/to_stage, cycle, null for none); 1: column names

# (table, stored column, exported key): where the export's words differ from the columns'.
RENAMED = (("history", "source", "from_stage"), ("history", "dest", "to_stage"), ("cycles", "year", "cycle"))
NONE_AS_EMPTY = (("roles", "member_state"), ("roles", "city"))  # stored as "", exported as null


def db_current(app: App) -> dict[str, Any]:
    found = app.raw_store.revision()
    return {"current": found, "head": HEAD, "up_to_date": found == HEAD}


def db_upgrade(app: App) -> dict[str, Any]:
    from .store import is_known, newer_message

    store = app.raw_store
    before = store.revision()
    if before is not None and not is_known(before):  # Alembic would fail: "Can't locate revision"
        raise BadInput(newer_message(before))
    store.upgrade()
    return {"from": before, "to": store.revision()}


def audit_verify(app: App) -> dict[str, Any]:
    """Check every deliverable's history chain, that its stage, version and data are what the
    history replays to, and the people directory's chain against the roles and names stored; each
    problem names the deliverable (or `directory`) and the position."""
    defs = app.definitions
    with app.store.read() as tx:
        rows = tx.deliverables()
        entries = tx.history()
        calendar_changes = tx.calendar_changes()
        changes = [asdict(c) for c in tx.directory_changes()]
        people = tx.people()
        milestones = tx.milestones()
        documents = [(i, asdict(v)) for r in rows for i, v in enumerate(tx.documents(r.id), start=1)]
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        chains[entry.deliverable_id].append(asdict(entry))
    versions = {r.id: r.version for r in rows}
    problems = []
    for deliverable_id in sorted(set(versions) | set(chains)):
        expected = versions.get(deliverable_id, 1) - 1
        problems += verify_chain(deliverable_id, chains.get(deliverable_id, []), expected)
    problems += verify_changes([asdict(c) for c in calendar_changes])  # the calendar's own chain
    problems += verify_milestones(
        [asdict(r) for cycle in sorted({m.cycle for m in milestones}) for r in _seeded(app, cycle)],
        [asdict(m) for m in milestones],
        [asdict(c) for c in calendar_changes],
    )
    problems += verify_documents(documents, lambda sha: _document_bytes(app, sha))
    problems += verify_endorsed_versions([asdict(e) for e in entries], documents)
    problems += verify_document_chains(documents)
    for row in rows:
        problems += _replay(defs, row, chains.get(row.id, []))
    roles = [(r.email, r.role, r.member_state, r.city) for _, r in people]
    names = {p.email: p.name for p, _ in people}
    problems += verify_directory(changes, roles, names)
    return {
        "deliverables": len(versions),
        "rows": sum(len(c) for c in chains.values()),
        "calendar_changes": len(calendar_changes),
        "directory_changes": len(changes),
        "problems": [p.as_dict() for p in problems],
    }


def _seeded(app: App, cycle: int) -> list[Any]:
    """The milestones a cycle's calendar file seeds (none if the file is gone: every row then differs)."""
    from .calendar_changes import records_of

    calendar = app.file_definitions.calendars.get(cycle)
    return records_of(calendar) if calendar is not None else []


def _document_bytes(app: App, sha256: str) -> bytes | None:
    try:
        return document_files.path_of(app.config.documents_dir, sha256).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _replay(defs: Definitions, row: Any, entries: list[dict[str, Any]]) -> list[Problem]:
    if row.workflow not in defs.workflows:
        return [Problem(row.id, 1, "edited", f"unknown workflow {row.workflow!r}")]
    workflow = defs.workflow(row.workflow)

    def cleared(trigger: str, source: str) -> tuple[str, ...] | None:
        transition = workflow.transition(trigger, source)
        return tuple(transition.clears_data) if transition else None

    stored = {"stage": row.stage, "version": row.version, "data": dict(row.data or {})}
    opening = PROJECT_FIELDS if row.workflow == "project" else ()
    return replay_problems(row.id, workflow.initial, stored, entries, cleared, opening)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_all(app: App, path: Path) -> dict[str, Any]:
    document: dict[str, Any] = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "schema": HEAD}
    with app.store.read() as tx:
        tables = tx.dump()
    document.update({key: [{k: _plain(v) for k, v in row.items()} for row in rows] for key, rows in tables.items()})
    _to_export_words(document)
    try:
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc}") from None
    return {"file": str(path), **{key: len(rows) for key, rows in tables.items()}}


def _to_export_words(document: dict[str, Any]) -> None:
    for table, column, key in RENAMED:
        for row in document.get(table, []):
            row[key] = row.pop(column)
    for table, column in NONE_AS_EMPTY:
        for row in document.get(table, []):
            row[column] = row[column] or None


def _to_column_names(document: dict[str, Any]) -> None:
    """An export of version 2 back to the stored column names (version 1 uses them already)."""
    for table, column, key in RENAMED:
        for row in document.get(table, []):
            if isinstance(row, dict) and key in row:
                row[column] = row.pop(key)
    for table, column in NONE_AS_EMPTY:
        for row in document.get(table, []):
            if isinstance(row, dict) and row.get(column) is None:
                row[column] = ""


def import_all(app: App, path: Path) -> dict[str, Any]:
    """Restore an export into an empty database, in one transaction."""
    from .input_files import read_text

    text = read_text(path, "export")  # a regular file only: a FIFO or /dev/zero would never end
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"{path}: not an ascn export ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise BadInput(f"{path}: not an ascn export")
    if document.get("version", 1) not in (1, EXPORT_VERSION):
        raise BadInput(f"{path}: export version {document.get('version')!r} is newer than this ascn reads")
    if document.get("version", 1) == EXPORT_VERSION:
        _to_column_names(document)
    if document.get("schema") != HEAD:
        raise BadInput(f"{path} was exported at schema {document.get('schema')}, this version is at {HEAD}")
    check_export(app.definitions, document, str(path))  # all of it, before anything is written
    app.raw_store.create_schema()
    with app.store.transaction() as tx:
        counts = tx.restore(document)
    return {"file": str(path), **counts}
