"""Looking after the database: migrations, the audit of the hash chains, export and restore."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, func
from sqlmodel import SQLModel, col, select

from .app import App
from .audit import verify_chain
from .errors import BadInput, NotFound
from .store.migrate import HEAD, current, upgrade
from .store.tables import (
    CityRow,
    CycleRow,
    DeliverableRow,
    HistoryRow,
    MemberStateRow,
    OutboxRow,
    PersonRow,
    ReminderRow,
    RoleRow,
)

EXPORT_FORMAT = "ascn-export"
# Dependency order for restoring; the tables whose `id` the database assigns are restored without it.
TABLES: list[tuple[str, type[SQLModel], bool]] = [
    ("cycles", CycleRow, False),
    ("member_states", MemberStateRow, False),
    ("cities", CityRow, False),
    ("people", PersonRow, False),
    ("roles", RoleRow, True),
    ("deliverables", DeliverableRow, False),
    ("history", HistoryRow, True),
    ("reminders", ReminderRow, True),
    ("outbox", OutboxRow, True),
]


def db_current(app: App) -> dict[str, Any]:
    found = current(app.raw_store.engine)
    return {"current": found, "head": HEAD, "up_to_date": found == HEAD}


def db_upgrade(app: App) -> dict[str, Any]:
    before = current(app.raw_store.engine)
    upgrade(app.raw_store.engine)
    return {"from": before, "to": current(app.raw_store.engine)}


def audit_verify(app: App) -> dict[str, Any]:
    """Check every deliverable's history chain; each problem names the deliverable and position."""
    store = app.store
    with store.session() as session:
        versions = {r.id: r.version for r in session.exec(select(DeliverableRow))}
        chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
        rows = session.exec(select(HistoryRow).order_by(col(HistoryRow.deliverable_id), col(HistoryRow.seq)))
        for row in rows:
            chains[row.deliverable_id].append(row.model_dump())
    problems = []
    for deliverable_id in sorted(set(versions) | set(chains)):
        expected = versions.get(deliverable_id, 1) - 1
        problems += verify_chain(deliverable_id, chains.get(deliverable_id, []), expected)
    return {
        "deliverables": len(versions),
        "rows": sum(len(c) for c in chains.values()),
        "problems": [p.as_dict() for p in problems],
    }


def _is_datetime(column_type: Any) -> bool:
    return isinstance(column_type, DateTime) or isinstance(getattr(column_type, "impl", None), DateTime)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_all(app: App, path: Path) -> dict[str, Any]:
    store = app.store
    document: dict[str, Any] = {"format": EXPORT_FORMAT, "version": 1, "schema": HEAD}
    with store.session() as session:
        for key, table, _ in TABLES:
            order = [c for c in table.__table__.primary_key.columns]  # type: ignore[attr-defined]
            rows = session.exec(select(table).order_by(*order)).all()
            document[key] = [{k: _plain(v) for k, v in row.model_dump().items()} for row in rows]
    try:
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc}") from None
    return {"file": str(path), **{key: len(document[key]) for key, _, _ in TABLES}}


def import_all(app: App, path: Path) -> dict[str, Any]:
    """Restore an export into an empty database, in one transaction."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"export file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: not an ascn export ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise BadInput(f"{path}: not an ascn export")
    if document.get("schema") != HEAD:
        raise BadInput(f"{path} was exported at schema {document.get('schema')}, this version is at {HEAD}")
    store = app.raw_store
    store.create_schema()
    with store.session() as session:
        if (
            session.exec(select(func.count()).select_from(DeliverableRow)).one()
            or session.exec(select(func.count()).select_from(PersonRow)).one()
        ):
            raise BadInput("import needs an empty database: this one already holds deliverables or people")
        for key, table, drop_id in TABLES:
            datetimes = {c.name for c in table.__table__.columns if _is_datetime(c.type)}  # type: ignore[attr-defined]
            for raw in document.get(key, []):
                values = {
                    k: (datetime.fromisoformat(v) if k in datetimes and v is not None else v)
                    for k, v in raw.items()
                    if not (drop_id and k == "id")
                }
                session.add(table(**values))
            session.flush()
    return {"file": str(path), **{key: len(document.get(key, [])) for key, _, _ in TABLES}}
