"""Tamper evidence: each history row's hash covers its content and the previous row's hash.

The chain is per deliverable, in `seq` order. Editing a row breaks its own hash; deleting,
inserting or reordering rows breaks the links (`prev_hash`) and the count the deliverable's
version implies. Pure functions over plain mappings: the store feeds them rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from msgspec import Struct

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


_PLAIN = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"  # strftime's "%Y-%m-%dT%H:%M:%S.%fZ" for years from 1000, 3× faster


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        m = value.astimezone(UTC)
        if m.year < 1000:  # strftime pads no such year
            return m.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return _PLAIN % (m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond)
    return value


# The canonical JSON of every chain, made once: `json.dumps` with these options builds this very
# encoder at each call (~0.5 µs of every advance, issue 15); the text is the same.
_canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode
_string = encode_basestring  # how that encoder writes a string (ensure_ascii=False)


# Provenance (migration 0006): where the act came in and who proved they recorded it. Covered by the
# hash only when it differs from what every row before 0006 holds, so those rows keep their hashes.
PROVENANCE: dict[str, str | None] = {"channel": "cli", "recorded_by": None}


def digest(row: Mapping[str, Any], prev_hash: str) -> str:
    """Version 1 of the row hash: sha256 of the previous hash and the row's canonical JSON.

    The JSON is written here key by key, in sorted order, each value as the canonical encoder
    writes it (`_value`): the very text `_canonical` makes of the same fields (every datetime in
    them as `_plain` text, provenance only where it differs from `PROVENANCE`), ~2.5 µs sooner at
    every advance (issue 15). tests/test_audit_chains.py holds it to `json.dumps` over generated rows.
    """
    channel = row.get("channel", PROVENANCE["channel"])
    recorded_by = row.get("recorded_by", PROVENANCE["recorded_by"])
    effective = _value(row["effective_at"])
    recorded = effective if row["recorded_at"] is row["effective_at"] else _value(row["recorded_at"])
    parts = ['{"actor":', _value(row["actor"])]
    if channel != PROVENANCE["channel"]:
        parts += [',"channel":', _value(channel)]
    parts += [
        ',"data":', _value(row["data"]),
        ',"deliverable_id":', _value(row["deliverable_id"]),
        ',"dest":', _value(row["dest"]),
        ',"effective_at":', effective,
        ',"note":', _value(row["note"]),
        ',"recorded_at":', recorded,
    ]  # fmt: skip
    if recorded_by != PROVENANCE["recorded_by"]:
        parts += [',"recorded_by":', _value(recorded_by)]
    parts += [
        ',"role":', _value(row["role"]),
        ',"seq":', _value(row["seq"]),
        ',"source":', _value(row["source"]),
        ',"trigger":', _value(row["trigger"]),
        ',"waivers":', _value(row["waivers"]),
        "}",
    ]  # fmt: skip
    return hashlib.sha256(f"{prev_hash}\n{''.join(parts)}".encode()).hexdigest()


def _value(value: Any) -> str:
    """One field of a row as `_canonical` writes it there (a datetime as its `_plain` text)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is dict and not value:
        return "{}"
    if isinstance(value, datetime):
        return _string(_plain(value))
    return _canonical(value)


def chain_hash(tag: str, fields: Mapping[str, Any], prev_hash: str) -> str:
    """sha256 of `tag`, the previous hash and the fields' canonical JSON: one link of any chain
    (`tag` keeps chains of different things apart; the history's and the directory's have none)."""
    content = _canonical(fields if type(fields) is dict else dict(fields))
    return hashlib.sha256(f"{tag}{prev_hash}\n{content}".encode()).hexdigest()


class Problem(Struct, frozen=True):
    deliverable_id: str
    position: int  # 1-based place in the chain (seq order)
    kind: str  # edited | deleted | inserted | reordered
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliverable_id": self.deliverable_id,
            "position": self.position,
            "kind": self.kind,
            "message": self.message,
        }


def walk_chain(
    owner: str,
    rows: Sequence[Mapping[str, Any]],
    digest_of: Callable[[Mapping[str, Any], str], str],
    label: Callable[[Mapping[str, Any]], str],
) -> list[Problem]:
    """The link checks every hash chain shares (history, calendar changes, the directory), in `seq`
    order: each row against its own hash (edited), its `seq` against its place (deleted, inserted),
    and its `prev_hash` against the row before it: the hash of a later row (reordered), of an
    earlier one (inserted), or of none (deleted). `label` names a row in the messages."""
    problems: list[Problem] = []
    hashes = [str(r["hash"]) for r in rows]

    def add(position: int, kind: str, message: str) -> None:
        problems.append(Problem(owner, position, kind, message))

    for i, row in enumerate(rows):
        position, previous = i + 1, (hashes[i - 1] if i else "")
        if digest_of(row, str(row["prev_hash"])) != row["hash"]:
            add(position, "edited", f"{label(row)} does not match its hash: its content was changed")
        if row["seq"] != position and not any(p.kind == "deleted" for p in problems):
            kind = "deleted" if row["seq"] > position else "inserted"
            add(position, kind, f"expected seq {position}, found {row['seq']}")
        if row["prev_hash"] == previous:
            continue
        if row["prev_hash"] in hashes[i + 1 :]:
            add(position, "reordered", f"{label(row)} follows a row that now comes after it")
        elif row["prev_hash"] in hashes[:i]:
            add(position, "inserted", f"a row was inserted before {label(row)}")
        elif not any(p.position == position for p in problems):
            add(position, "deleted", f"the row before {label(row)} is missing")
    return problems


def verify_chain(deliverable_id: str, rows: Sequence[Mapping[str, Any]], expected_count: int) -> list[Problem]:
    """Every break in one deliverable's chain; `expected_count` is its version minus one."""
    problems = walk_chain(deliverable_id, rows, digest, lambda r: f"row {r['seq']} ({r['trigger']})")
    if len(rows) < expected_count:
        problems.append(
            Problem(
                deliverable_id,
                len(rows) + 1,
                "deleted",
                f"{expected_count - len(rows)} row(s) missing at the end (version says {expected_count})",
            )
        )
    elif len(rows) > expected_count:
        problems.append(
            Problem(
                deliverable_id,
                expected_count + 1,
                "inserted",
                f"{len(rows) - expected_count} row(s) more than the version says ({expected_count})",
            )
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
    return chain_hash("calendar\n", {k: _plain(row[k]) for k in CHANGE_FIELDS}, prev_hash)


def verify_changes(rows: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Every break in the chain of calendar changes (in `seq` order), as for a deliverable's history."""
    return walk_chain("calendar", rows, change_digest, lambda r: f"calendar change {r['seq']}")


# ---------------------------------------------------------------------------- the people directory

DIRECTORY = "directory"  # what a directory problem names instead of a deliverable
DIRECTORY_FIELDS = ("seq", "at", "actor", "email", "name", "role", "member_state", "city")
Grant = tuple[str, str, str, str]  # (email, role, member_state or "", city or "")


def directory_digest(change: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of one directory change: sha256 of the previous hash and the change's canonical JSON."""
    return chain_hash("", {k: _plain(change[k]) for k in DIRECTORY_FIELDS}, prev_hash)


def verify_directory(
    changes: Sequence[Mapping[str, Any]], roles: Sequence[Grant], names: Mapping[str, str]
) -> list[Problem]:
    """The directory's chain is intact, and it explains every stored role and name: a role nobody
    granted through a command (a Chair inserted by hand) or a name changed by hand is reported."""
    problems = walk_chain(
        DIRECTORY, changes, directory_digest, lambda c: f"change {c['seq']} ({c['role']} for {c['email']})"
    )

    def add(position: int, kind: str, message: str) -> None:
        problems.append(Problem(DIRECTORY, position, kind, message))

    granted = {(c["email"], c["role"], c["member_state"] or "", c["city"] or "") for c in changes}
    named = {c["email"]: c["name"] for c in changes}
    for email, role, member_state, city in sorted(set(roles) - granted):
        scope = member_state or city or "network"
        add(len(changes) + 1, "unrecorded", f"{email} holds {role} ({scope}) but no recorded change granted it")
    for email, role, member_state, city in sorted(granted - set(roles)):
        add(
            len(changes) + 1,
            "deleted",
            f"{email} was granted {role} ({member_state or city or 'network'}) but no longer holds it",
        )
    for email, name in sorted(names.items()):
        if email in named and named[email] != name:
            add(len(changes) + 1, "edited", f"{email} is named {name!r}; the directory recorded {named[email]!r}")
    return problems


def replay_problems(
    deliverable_id: str,
    initial_stage: str,
    stored: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    cleared: Callable[[str, str], Sequence[str] | None],
    opening_keys: Sequence[str] = (),
) -> list[Problem]:
    """What a deliverable's stage, version and data should be after its history, against what is
    stored: an UPDATE of the stage, a lowered version with its last rows deleted, or edited data is
    reported even when the remaining chain is intact. `cleared(trigger, source)` are the data keys
    that transition clears, None for a row that is no transition (a reschedule, an extension); `opening_keys` are data a deliverable was opened with (no history sets them)."""
    problems: list[Problem] = []
    position = len(entries) + 1
    stage = str(entries[-1]["dest"]) if entries else initial_stage
    if stored["stage"] != stage:
        problems.append(
            Problem(deliverable_id, position, "edited", f"stage is {stored['stage']}, its history ends at {stage}")
        )
    if stored["version"] != len(entries) + 1:
        problems.append(
            Problem(
                deliverable_id,
                position,
                "edited",
                f"version is {stored['version']}, its history of {len(entries)} rows makes it {len(entries) + 1}",
            )
        )
    data: dict[str, Any] = {k: v for k, v in stored["data"].items() if k in opening_keys}
    for entry in entries:
        clears = cleared(str(entry["trigger"]), str(entry["source"]))
        if clears is None:  # not a transition (a calendar reschedule or extension): its data is the event's
            continue
        data.update(entry["data"] or {})
        for key in clears:
            data.pop(key, None)
    if dict(stored["data"]) != data:
        changed = sorted(k for k in set(data) | set(stored["data"]) if data.get(k) != stored["data"].get(k))
        problems.append(
            Problem(deliverable_id, position, "edited", f"data field(s) {', '.join(changed)} differ from its history")
        )
    return problems


MILESTONE_FIELDS = ("first_day", "last_day", "zone", "same_as", "revision")


def verify_milestones(
    seeded: Sequence[Mapping[str, Any]], stored: Sequence[Mapping[str, Any]], changes: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    """Each stored milestone is its calendar file's (as seeded when its cycle opened) with the
    recorded milestone changes applied in order: a row edited in the database is caught here,
    since its days are in no hash chain of their own."""
    expected = {str(m["ref"]): {k: m.get(k) for k in MILESTONE_FIELDS} for m in seeded}
    for c in changes:
        if c.get("kind") != "milestone":
            continue
        moved = expected.setdefault(f"{c['cycle']}/{c['target']}", {"revision": 0})
        new = c.get("new_value") or {}
        moved.update(
            first_day=new.get("start"),
            last_day=new.get("end"),
            zone=new.get("zone"),
            same_as=new.get("same_as"),
            revision=int(moved.get("revision") or 0) + 1,
        )
    problems = []
    cycles = {int(m["cycle"]) for m in stored}
    present = {str(m["ref"]) for m in stored}
    for m in stored:
        ref = str(m["ref"])
        want = expected.get(ref)
        if want is None:
            problems.append(Problem(f"milestone {ref}", 1, "inserted", "neither the calendar file nor a change has it"))
            continue
        for key in MILESTONE_FIELDS:
            if m.get(key) != want.get(key):
                problems.append(
                    Problem(
                        f"milestone {ref}",
                        int(m.get("revision") or 0) + 1,
                        "edited",
                        f"{key} is {m.get(key)!r}; the calendar file and the calendar changes say {want.get(key)!r}",
                    )
                )
    for ref in sorted(set(expected) - present):
        if int(ref.split("/", 1)[0]) in cycles:
            problems.append(Problem(f"milestone {ref}", 1, "deleted", "the calendar has it; the database does not"))
    return problems


DOCUMENT_FIELDS = ("deliverable_id", "sha256", "title", "filename", "size", "added_by", "added_at")


def document_digest(row: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of one document row (migration 0009), chained per deliverable like its history."""
    return chain_hash("document\n", {k: _plain(row[k]) for k in DOCUMENT_FIELDS}, prev_hash)


def verify_document_chains(versions: Sequence[tuple[int, Mapping[str, Any]]]) -> list[Problem]:
    """Each deliverable's document rows (in the order added; `versions` as for `verify_documents`)
    against their chain: a title, file name, size, author or instant edited, a row deleted before
    the last, or one inserted."""
    chains: dict[str, list[Mapping[str, Any]]] = {}
    for number, v in versions:
        chains.setdefault(str(v["deliverable_id"]), []).append({**v, "seq": number})
    problems = []
    for deliverable_id, rows in chains.items():
        problems += walk_chain(f"{deliverable_id} document", rows, document_digest, lambda r: f"version {r['seq']}")
    return problems


def verify_documents(
    versions: Sequence[tuple[int, Mapping[str, Any]]], read: Callable[[str], bytes | None]
) -> list[Problem]:
    """Each document row against its file: there, holding the bytes its SHA-256 and size say.
    `versions` is (number within its deliverable, row); `read` gives a file's bytes by SHA-256, or None."""
    problems = []
    for number, v in versions:
        sha, owner = str(v["sha256"]), f"{v['deliverable_id']} document"
        content = read(sha)
        if content is None:
            problems.append(Problem(owner, number, "deleted", f"version {number} ({sha[:12]}…) has no file"))
        elif hashlib.sha256(content).hexdigest() != sha:
            problems.append(Problem(owner, number, "edited", f"version {number}: its file does not hold {sha[:12]}…"))
        elif len(content) != v["size"]:
            problems.append(
                Problem(
                    owner, number, "edited", f"version {number}: size {v['size']} recorded, its file has {len(content)}"
                )
            )
    return problems


def verify_endorsed_versions(
    entries: Sequence[Mapping[str, Any]], versions: Sequence[tuple[int, Mapping[str, Any]]]
) -> list[Problem]:
    """Each document version a body endorsed (effect `record-document-version`: its SHA-256 and
    title, in the history row, so under the history's hash) is still a row of its deliverable with
    that title. Document rows are in no chain of their own: this covers the endorsed ones only."""
    rows = {(str(v["deliverable_id"]), str(v["sha256"])): (number, v) for number, v in versions}
    problems = []
    for entry in entries:
        data = entry.get("data") or {}
        if "version" not in data or "version_title" not in data:
            continue
        deliverable_id, sha = str(entry["deliverable_id"]), str(data["version"])
        owner, endorsed = f"{deliverable_id} document", f"{entry['trigger']} (history row {entry['seq']})"
        found = rows.get((deliverable_id, sha))
        if found is None:
            problems.append(Problem(owner, 1, "deleted", f"{endorsed} endorsed version {sha[:12]}…, which has no row"))
        elif found[1]["title"] != data["version_title"]:
            number, row = found
            problems.append(
                Problem(
                    owner,
                    number,
                    "edited",
                    f"version {number} is titled {row['title']!r}; {endorsed} endorsed it as {data['version_title']!r}",
                )
            )
    return problems
