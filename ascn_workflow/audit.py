"""Tamper evidence: each history row's hash covers its content and the previous row's hash.

The chain is per deliverable, in `seq` order. Editing a row breaks its own hash; deleting,
inserting or reordering rows breaks the links (`prev_hash`) and the count the deliverable's
version implies. Pure functions over plain mappings: the store feeds them rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FIELDS = (
    "deliverable_id",
    "seq",
    "trigger",
    "source",
    "dest",
    "actor",
    "role",
    "effective_at",
    "recorded_at",
    "note",
    "data",
    "waivers",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


# Provenance (migration 0006): where the act came in and who proved they recorded it. Covered by the
# hash only when it differs from what every row before 0006 holds, so those rows keep their hashes.
PROVENANCE: dict[str, str | None] = {"channel": "cli", "recorded_by": None}


def digest(row: Mapping[str, Any], prev_hash: str) -> str:
    """Version 1 of the row hash: sha256 of the previous hash and the row's canonical JSON."""
    fields = {k: _plain(row[k]) for k in FIELDS}
    for key, default in PROVENANCE.items():
        value = row.get(key, default)
        if value != default:
            fields[key] = value
    content = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    deliverable_id: str
    position: int  # 1-based place in the chain (seq order)
    kind: str  # edited | deleted | inserted | reordered
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliverable": self.deliverable_id,
            "position": self.position,
            "kind": self.kind,
            "message": self.message,
        }


def verify_chain(deliverable_id: str, rows: Sequence[Mapping[str, Any]], expected_count: int) -> list[Problem]:
    """Every break in one deliverable's chain; `expected_count` is its version minus one."""
    problems: list[Problem] = []
    hashes = [str(r["hash"]) for r in rows]

    def add(position: int, kind: str, message: str) -> None:
        problems.append(Problem(deliverable_id, position, kind, message))

    for i, row in enumerate(rows):
        position, previous = i + 1, (hashes[i - 1] if i else "")
        if digest(row, str(row["prev_hash"])) != row["hash"]:
            add(
                position,
                "edited",
                f"row {row['seq']} ({row['trigger']}) does not match its hash: its content was changed",
            )
        if row["seq"] != position and not any(p.kind == "deleted" for p in problems):
            kind = "deleted" if row["seq"] > position else "inserted"
            add(position, kind, f"expected seq {position}, found {row['seq']}")
        if row["prev_hash"] == previous:
            continue
        if row["prev_hash"] in hashes[i + 1 :]:
            add(position, "reordered", f"row {row['seq']} ({row['trigger']}) follows a row that now comes after it")
        elif row["prev_hash"] in hashes[:i]:
            add(position, "inserted", f"a row was inserted before row {row['seq']} ({row['trigger']})")
        elif not any(p.position == position for p in problems):
            add(position, "deleted", f"the row before row {row['seq']} ({row['trigger']}) is missing")
    if len(rows) < expected_count:
        add(
            len(rows) + 1,
            "deleted",
            f"{expected_count - len(rows)} row(s) missing at the end (version says {expected_count})",
        )
    elif len(rows) > expected_count:
        add(
            expected_count + 1,
            "inserted",
            f"{len(rows) - expected_count} row(s) more than the version says ({expected_count})",
        )
    return problems


# ---------------------------------------------------------------------------- the calendar's chain

CHANGE_FIELDS = (
    "seq",
    "cycle",
    "kind",
    "target",
    "actor",
    "role",
    "recorded_at",
    "reason",
    "old_value",
    "new_value",
    "deliverables",
    "told",
)


def change_digest(row: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of one calendar change (a moved milestone or an extension), chained like the history."""
    content = json.dumps(
        {k: _plain(row[k]) for k in CHANGE_FIELDS},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"calendar\n{prev_hash}\n{content}".encode()).hexdigest()


def verify_changes(rows: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every break in the chain of calendar changes (in `seq` order), as for a deliverable's history."""
    problems: list[Problem] = []
    previous = ""
    for i, row in enumerate(rows):
        position = i + 1
        if change_digest(row, str(row["prev_hash"])) != row["hash"]:
            problems.append(
                Problem("calendar", position, "edited", f"calendar change {row['seq']} does not match its hash")
            )
        if row["seq"] != position:
            kind = "deleted" if row["seq"] > position else "inserted"
            problems.append(
                Problem("calendar", position, kind, f"expected calendar change {position}, found {row['seq']}")
            )
        elif row["prev_hash"] != previous:
            problems.append(
                Problem("calendar", position, "deleted", f"the change before {row['seq']} is missing or altered")
            )
        previous = str(row["hash"])
    return problems
