"""Looking after the database: migrations, the audit of the hash chains, export and restore."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from .app import App
from .audit import verify_chain, verify_changes
from .errors import BadInput, NotFound
from .store import HEAD

EXPORT_FORMAT = "ascn-export"


def db_current(app: App) -> dict[str, Any]:
    found = app.raw_store.revision()
    return {"current": found, "head": HEAD, "up_to_date": found == HEAD}


def db_upgrade(app: App) -> dict[str, Any]:
    store = app.raw_store
    before = store.revision()
    store.upgrade()
    return {"from": before, "to": store.revision()}


def audit_verify(app: App) -> dict[str, Any]:
    """Check every deliverable's history chain; each problem names the deliverable and position."""
    with app.store.read() as tx:
        versions = {r.id: r.version for r in tx.deliverables()}
        entries = tx.history()
        changes = tx.calendar_changes()
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        chains[entry.deliverable_id].append(asdict(entry))
    problems = []
    for deliverable_id in sorted(set(versions) | set(chains)):
        expected = versions.get(deliverable_id, 1) - 1
        problems += verify_chain(deliverable_id, chains.get(deliverable_id, []), expected)
    problems += verify_changes([asdict(c) for c in changes])  # the calendar's own chain
    return {
        "deliverables": len(versions),
        "rows": sum(len(c) for c in chains.values()),
        "calendar_changes": len(changes),
        "problems": [p.as_dict() for p in problems],
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_all(app: App, path: Path) -> dict[str, Any]:
    document: dict[str, Any] = {"format": EXPORT_FORMAT, "version": 1, "schema": HEAD}
    with app.store.read() as tx:
        tables = tx.dump()
    document.update({key: [{k: _plain(v) for k, v in row.items()} for row in rows] for key, rows in tables.items()})
    try:
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc}") from None
    return {"file": str(path), **{key: len(rows) for key, rows in tables.items()}}


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
    app.raw_store.create_schema()
    with app.store.transaction() as tx:
        counts = tx.restore(document)
    return {"file": str(path), **counts}
