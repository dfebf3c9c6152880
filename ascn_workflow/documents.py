"""Document versions of a deliverable (`ascn document add/list`) and the Framework's provenance.

The bytes go to the content-addressed folder (`document_files`), the metadata to the database, in
that order: a file without its row is harmless (adding it again finds it), a row without its file
cannot happen. The Framework's `endorse`, `jcm_endorse` and `adopt` record the version they endorse
(the effect `record-document-version`), which `ascn framework` and the annual report show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import document_files
from .dates import show
from .errors import Denied, NotFound
from .names import check_name
from .store import Deliverable, DocumentVersion, HistoryEntry, Transaction
from .views import resolve_actor, zone_of

if TYPE_CHECKING:
    from .app import App

ENDORSING = {"endorse": "ASCN", "jcm_endorse": "JCM", "adopt": "ASEAN Leaders"}
EDITORS = ("asec", "shepherd", "chair", "nr", "csco", "focal_point")


def add(
    app: App, deliverable_id: str, source: Path, now: datetime, actor_email: str | None, title: str | None = None
) -> dict[str, Any]:
    return add_content(app, deliverable_id, document_files.read_source(source), source.name, now, actor_email, title)


def add_content(
    app: App,
    deliverable_id: str,
    content: bytes,
    filename: str,
    now: datetime,
    actor_email: str | None,
    title: str | None = None,
) -> dict[str, Any]:
    """Store one version (the bytes first, then the row, in the deliverable's transaction)."""
    label = check_name(title, "--title") if title is not None else check_name(filename, "file name")
    with app.store.transaction() as tx:
        actor = resolve_actor(tx, actor_email)
        row = tx.deliverable(deliverable_id)
        if not any(g.role in EDITORS and g.covers(row.member_state, row.city) for g in actor.grants):
            raise Denied(f"{actor.email} may not add documents to {row.id}", actor=actor.email, deliverable=row.id)
        sha, _new_file = document_files.store(app.config.documents_dir, content)
        record = DocumentVersion(
            deliverable_id=row.id,
            sha256=sha,
            title=label,
            filename=filename,
            size=len(content),
            added_by=actor.email,
            added_at=now,
        )
        added = tx.add_document(record)
        versions = tx.documents(row.id)
    stored = next(v for v in versions if v.sha256 == sha)
    return {**_view(app, row, stored, len(versions)), "added": added}


def list_versions(app: App, deliverable_id: str) -> list[dict[str, Any]]:
    with app.store.read() as tx:
        row = tx.deliverable(deliverable_id)
        versions = tx.documents(row.id)
    return [_view(app, row, v, i) for i, v in enumerate(versions, start=1)]


def _view(app: App, row: Deliverable, v: DocumentVersion, number: int) -> dict[str, Any]:
    return {
        "deliverable_id": row.id,
        "version": number,
        "sha256": v.sha256,
        "title": v.title,
        "filename": v.filename,
        "size": v.size,
        "added_by": v.added_by,
        "added_at": show(v.added_at, zone_of(app.definitions, row)),
        "path": str(document_files.path_of(app.config.documents_dir, v.sha256)),
    }


def record_document_version(tx: Transaction, row: Deliverable, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """The effect's `gather`: the version this trigger endorses (`--data version=SHA256`, else the
    latest). With no version attached it records none, and rule `document-attached` refuses."""
    versions = tx.documents(row.id)
    wanted = str(given.get("version") or "").strip().lower()
    if wanted:
        found = [v for v in versions if v.sha256 == wanted or (len(wanted) >= 12 and v.sha256.startswith(wanted))]
        if len(found) != 1:
            raise NotFound(f"{row.id} has no document version {wanted!r} (see `ascn document list {row.id}`)")
        chosen = found[0]
    elif versions:
        chosen = versions[-1]
    else:
        return {}
    return {"version": chosen.sha256, "version_title": chosen.title}


def provenance(
    history: Sequence[HistoryEntry], versions: Sequence[DocumentVersion], zone: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(which version each body endorsed, at which meeting, on which day; the versions added after
    the last endorsed one that no body has endorsed yet)."""
    numbers = {v.sha256: i for i, v in enumerate(versions, start=1)}
    endorsements = []
    for h in history:
        if h.trigger not in ENDORSING:
            continue
        sha = h.data.get("version")
        endorsements.append(
            {
                "body": ENDORSING[h.trigger],
                "trigger": h.trigger,
                "stage": h.dest,
                "at": show(h.effective_at, zone),
                "by": h.actor,
                "version": sha,
                "version_number": numbers.get(sha) if sha else None,
                "version_title": h.data.get("version_title"),
            }
        )
    endorsed = {e["version"] for e in endorsements if e["version"]}
    last = max((numbers[s] for s in endorsed if s in numbers), default=0)
    unendorsed = [
        {"version": i, "sha256": v.sha256, "title": v.title, "added_at": show(v.added_at, zone)}
        for i, v in enumerate(versions, start=1)
        if i > last and v.sha256 not in endorsed and endorsements
    ]
    return endorsements, unendorsed
