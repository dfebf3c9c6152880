"""An export file checked as strictly as the commands that made its data (issue 16, item 3).

`ascn import` used to trust its file: a person called `scheduler`, broken hashes, unknown
workflows or a version "abc" were restored and broke later commands. Here every row goes through
the validators the commands use (names, addresses, roles and scopes, slugs, zones, workflows and
stages), every instant is parsed, and the hash chains (each deliverable's history, the directory)
are verified and replayed, all before anything is written. The first problem is raised as
BadInput naming the table, the row and what is wrong; nothing is restored then.

Pure: a document in, BadInput or None out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .audit import replay_problems, verify_chain, verify_directory
from .definitions import valid_zone
from .engine import WAIVING_ROLES
from .errors import AscnError, BadInput
from .names import check_email, check_name
from .opening import PROJECT_FIELDS
from .people import SCHEDULER_EMAIL
from .spec import ROLES, Definitions, check_slug

INSTANTS = {
    "cycles": ("opened_at",),
    "directory": ("at",),
    "history": ("effective_at", "recorded_at"),
    "deliverables": ("deadline", "last_event_at", "notified_deadline", "notice_due"),
    "reminders": ("due_at", "deadline", "sent_at"),
    "outbox": ("created_at", "next_attempt_at", "lease_until", "sent_at"),
}
# History rows that are no transition: a milestone moved (`calendar set`) or a deadline extended.
CALENDAR_EVENTS = ("reschedule", "extend")
PERSON_ROLES = tuple(r for r in ROLES if r != "scheduler")


class _Rows:
    """The rows of one table, with where each comes from for messages."""

    def __init__(self, document: Mapping[str, Any], key: str, source: str) -> None:
        rows = document.get(key, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadInput(f"{source}: `{key}` must be a list of objects")
        self.key, self.source, self.rows = key, source, rows

    def where(self, i: int) -> str:
        return f"{self.source}: {self.key} #{i}"


def _may_fire(row: Mapping[str, Any], roles: Sequence[str]) -> bool:
    """As the engine allows: a role of the transition, or the Chair or the shepherd who waived one
    of its rules and so acted for the owner (Malaysia's four pilot cities in 2018)."""
    role = row.get("role")
    return role in roles or (bool(row.get("waivers")) and role in WAIVING_ROLES)


def _int(value: Any, where: str, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInput(f"{where}: {field} must be a whole number ≥ {minimum}, not {value!r}")
    return value


def _instants(rows: _Rows) -> list[dict[str, Any]]:
    """The rows with their instants parsed (aware), as the store will hold them."""
    parsed = []
    for i, row in enumerate(rows.rows, start=1):
        copy = dict(row)
        for field in INSTANTS.get(rows.key, ()):
            value = copy.get(field)
            if value is None:
                continue
            try:
                moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise BadInput(f"{rows.where(i)}: {field} {value!r} is not an ISO 8601 instant with an offset")
            copy[field] = moment
        parsed.append(copy)
    return parsed


def check_export(defs: Definitions, document: Mapping[str, Any], source: str) -> None:
    """BadInput naming the first problem of an export document, or None when it may be restored."""
    try:
        _check(defs, document, source)
    except BadInput:
        raise
    except AscnError as error:  # an unknown workflow, member state …: still the file's fault
        raise BadInput(f"{source}: {error.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadInput(f"{source}: malformed row ({type(error).__name__}: {error})") from None


def _check(defs: Definitions, document: Mapping[str, Any], source: str) -> None:
    tables = {key: _Rows(document, key, source) for key in ("cities", "people", "roles", "directory", "deliverables")}
    parsed = {key: _instants(_Rows(document, key, source)) for key in INSTANTS}
    codes = set(defs.network.member_states)
    slugs = _cities(tables["cities"], codes)
    emails = _people(tables["people"])
    roles = _roles(tables["roles"], emails, codes, slugs)
    versions = _deliverables(defs, tables["deliverables"], codes, slugs)
    _history(defs, _Rows(document, "history", source), parsed["history"], versions, emails)
    names = {str(p["email"]).lower(): str(p["name"]) for p in tables["people"].rows}
    problems = verify_directory(parsed["directory"], roles, names)
    if problems:
        p = problems[0]
        raise BadInput(f"{source}: directory #{p.position}: {p.kind}: {p.message}")
    _replays(defs, source, tables["deliverables"].rows, parsed["history"])


def _cities(rows: _Rows, codes: set[str]) -> set[str]:
    slugs = set()
    for i, city in enumerate(rows.rows, start=1):
        where = rows.where(i)
        if check_slug(city.get("slug")) is None:
            raise BadInput(f"{where}: slug {city.get('slug')!r} is not lowercase ASCII words joined by '-'")
        check_name(city.get("name"), where)
        if city.get("member_state") not in codes:
            raise BadInput(f"{where}: unknown member state {city.get('member_state')!r}")
        if not valid_zone(city.get("zone")):
            raise BadInput(f"{where}: unknown time zone {city.get('zone')!r}")
        slugs.add(str(city["slug"]))
    return slugs


def _people(rows: _Rows) -> set[str]:
    emails = set()
    for i, person in enumerate(rows.rows, start=1):
        where = rows.where(i)
        if str(person.get("email", "")).strip().lower() == SCHEDULER_EMAIL:
            raise BadInput(f"{where}: `scheduler` is the system's own actor, never a person")
        emails.add(check_email(person.get("email"), where))
        check_name(person.get("name"), where)
    return emails


def _roles(rows: _Rows, emails: set[str], codes: set[str], slugs: set[str]) -> list[tuple[str, str, str, str]]:
    held = []
    for i, role in enumerate(rows.rows, start=1):
        where = rows.where(i)
        name = role.get("role")
        if name not in PERSON_ROLES:
            raise BadInput(f"{where}: role {name!r} is not one of {', '.join(PERSON_ROLES)}")
        if role.get("email") not in emails:
            raise BadInput(f"{where}: {role.get('email')!r} is not a person of the file")
        member_state, city = role.get("member_state") or "", role.get("city") or ""
        if name in ("focal_point", "nr", "chair", "csco") and member_state not in codes:
            raise BadInput(f"{where}: role {name} needs a known member state, not {member_state!r}")
        if name == "csco" and city not in slugs:
            raise BadInput(f"{where}: role csco needs a city of the file, not {city!r}")
        held.append((str(role["email"]), str(name), str(member_state), str(city)))
    return held


def _deliverables(defs: Definitions, rows: _Rows, codes: set[str], slugs: set[str]) -> dict[str, int]:
    versions = {}
    for i, row in enumerate(rows.rows, start=1):
        where = rows.where(i)
        workflow = defs.workflow(str(row.get("workflow")))
        cycle = _int(row.get("cycle"), where, "cycle", 1970)
        if row.get("stage") not in {s.name for s in workflow.stages}:
            raise BadInput(f"{where}: {workflow.name} has no stage {row.get('stage')!r}")
        if not str(row.get("id", "")).startswith(f"{cycle}/{workflow.name}"):
            raise BadInput(f"{where}: id {row.get('id')!r} is not {cycle}/{workflow.name}[/…]")
        if row.get("member_state") not in (None, *codes) or row.get("city") not in (None, *slugs):
            raise BadInput(f"{where}: unknown member state or city ({row.get('member_state')}, {row.get('city')})")
        if not isinstance(row.get("data"), dict):
            raise BadInput(f"{where}: data must be an object")
        versions[str(row["id"])] = _int(row.get("version"), where, "version", 1)
    return versions


def _history(
    defs: Definitions,
    rows: _Rows,
    parsed: Sequence[Mapping[str, Any]],
    versions: Mapping[str, int],
    emails: set[str],
) -> None:
    chains: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    workflows = {d: d.split("/")[1] for d in versions}
    for i, row in enumerate(parsed, start=1):
        where = rows.where(i)
        deliverable = str(row.get("deliverable_id"))
        if deliverable not in versions:
            raise BadInput(f"{where}: no deliverable {deliverable!r} in the file")
        workflow = defs.workflow(workflows[deliverable])
        _int(row.get("seq"), where, "seq", 1)
        if row.get("trigger") in CALENDAR_EVENTS:  # a moved deadline: checked by its chain, like any row
            if row.get("actor") not in emails:
                raise BadInput(f"{where}: {row.get('actor')!r} is not a person of the file")
            chains[deliverable].append(row)
            continue
        transition = workflow.transition(str(row.get("trigger")), str(row.get("source")))
        if transition is None or transition.dest != row.get("dest"):
            raise BadInput(
                f"{where}: {workflow.name} has no transition {row.get('source')} --{row.get('trigger')}--> {row.get('dest')}"
            )
        actor, role = row.get("actor"), row.get("role")
        if actor == SCHEDULER_EMAIL or role == "scheduler":
            if not (actor == SCHEDULER_EMAIL and role == "scheduler" and "scheduler" in transition.roles):
                raise BadInput(f"{where}: only a deadline transition is the scheduler's, not {transition.trigger}")
        elif actor not in emails or not _may_fire(row, transition.roles):
            raise BadInput(
                f"{where}: {actor!r} as {role!r} is not a person of the file allowed to {transition.trigger}"
            )
        chains[deliverable].append(row)
    for deliverable, version in versions.items():
        problems = verify_chain(deliverable, chains.get(deliverable, []), version - 1)
        if problems:
            p = problems[0]
            raise BadInput(f"{rows.source}: history of {deliverable} #{p.position}: {p.kind}: {p.message}")


def _replays(
    defs: Definitions, source: str, deliverables: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]]
) -> None:
    chains: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(history, key=lambda r: (str(r["deliverable_id"]), int(r["seq"]))):
        chains[str(row["deliverable_id"])].append(row)
    for row in deliverables:
        workflow = defs.workflow(str(row["workflow"]))

        def cleared(trigger: str, stage: str, workflow: Any = workflow) -> tuple[str, ...] | None:
            transition = workflow.transition(trigger, stage)
            return tuple(transition.clears_data) if transition else None

        opening = PROJECT_FIELDS if workflow.name == "project" else ()
        problems = replay_problems(
            str(row["id"]), workflow.initial, row, chains.get(str(row["id"]), []), cleared, opening
        )
        if problems:
            raise BadInput(f"{source}: deliverable {row['id']}: {problems[0].message}")
