"""Use cases: one function each, one transaction each, returning plain data the CLI renders.

Every function takes `now` from its caller; none reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from . import calendar_changes, reminding
from .app import App
from .dates import show
from .effects import EFFECTS
from .engine import Request, fire, in_cycle, transition_of
from .errors import BadInput, Denied, NotFound
from .names import check_text, forbidden_character
from .nominations import parse_nomination
from .opening import cycle_openings, nomination_opening
from .outages import retrying
from .people import Grant, PersonEntry, parse_people, person_entry
from .spec import NETWORK_ROLES
from .store import Transaction, after
from .views import chairs_for, deliverable_view, history_view, is_overdue, resolve_actor

# ---------------------------------------------------------------------------- helpers


def read_file(path: Path, what: str) -> str:
    from .input_files import read_text

    return read_text(path, what)  # a regular file only: a FIFO or /dev/zero would never end


# ---------------------------------------------------------------------------- init and people


def init(app: App, cycle: int, now: datetime) -> dict[str, Any]:
    """Create (or upgrade) the schema, load the network, open the cycle's deliverables. Safe to run again."""
    defs = app.definitions
    defs.calendar(cycle)
    app.raw_store.create_schema()
    with app.store.transaction() as tx:
        added = tx.load_network(defs.network)
    return {**open_cycle(app, cycle, now), "network_rows_added": added}


def open_cycle(app: App, cycle: int, now: datetime) -> dict[str, Any]:
    """Open a cycle's deliverables from its calendar (idempotent): network deliverables, the founding
    cycle's nominations, and each earlier member city's yearly progress review and twinning follow-up.
    Two at once: the one that loses the race runs again and finds the cycle open."""
    return retrying(lambda: _open_cycle(app, cycle, now))


def _open_cycle(app: App, cycle: int, now: datetime) -> dict[str, Any]:
    defs = app.definitions
    defs.calendar(cycle)
    with app.store.transaction() as tx:
        members = [(c.slug, c.member_state) for c in tx.cities(joined_before=cycle)]
        calendar_changes.seed(defs, tx, cycle)  # from now on the database holds the cycle's milestones
        created = tx.open(cycle_openings(defs, cycle, members), now)
        new_cycle = tx.record_cycle(cycle, now)
        _plan_opened(app, tx, created, now)
    return {"cycle": cycle, "chair": defs.chair(cycle), "opened": created, "new_cycle": new_cycle}


def cycles(app: App, now: datetime) -> list[dict[str, Any]]:
    """Every cycle with a calendar: its Chair, whether it is open, and how far along its deliverables are."""
    defs = app.definitions
    with app.store.read() as tx:
        opened = set(tx.cycles())
        rows = tx.deliverables()
    result = []
    for year, calendar in sorted(defs.calendars.items()):
        mine = [r for r in rows if r.cycle == year]
        final = sum(not defs.workflow(r.workflow).transitions_from(r.stage) for r in mine)
        result.append(
            {
                "cycle": year,
                "chair": calendar.chair,
                "chair_name": defs.network.member_state(calendar.chair).name,
                "shepherd": defs.shepherd(year),
                "host": calendar.host,
                "opened": year in opened,
                "deliverables": len(mine),
                "finished": final,
                "overdue": sum(is_overdue(r, now) for r in mine),
            }
        )
    return result


def _check_city(tx: Transaction, entry: PersonEntry) -> PersonEntry:
    """A CSCO's city must be a member city; its member state comes from the stored network."""
    if entry.grant.role != "csco":
        return entry
    city = tx.city(entry.grant.city or "")
    if city is None:
        raise NotFound(f"{entry.email}: no member city {entry.grant.city!r}", city=entry.grant.city)
    return PersonEntry(entry.email, entry.name, Grant("csco", city.member_state, city.slug))


BOOTSTRAP = "bootstrap"  # who granted the first ASEC officer's role, before the directory had one


def directory_authority(app: App, tx: Transaction, actor_email: str | None, entries: Sequence[PersonEntry]) -> str:
    """Who may change the directory: an ASEC officer; the Chair for network roles (asec, shepherd,
    chair). While the directory has no ASEC officer, the first may be added without an actor.
    Returns the name recorded with the changes (issue 16, item 5).

    The Chair is who `engine.chair_seat` names for the configured cycle (`[calendar] cycle`), as
    for every other right of the Chair: a `chair` grant for a member state that does not chair
    that cycle gives none, and the chairing state's NR is the Chair unless someone holds the
    explicit grant."""
    if not tx.has_role("asec") and any(e.grant.role == "asec" for e in entries):
        return BOOTSTRAP
    if not actor_email and not tx.has_role("asec"):
        raise Denied("the directory has no ASEC officer yet: add one first (ascn people add --role asec …)")
    actor = resolve_actor(tx, actor_email)
    if any(g.role == "asec" for g in actor.grants):
        return actor.email
    defs, cycle = app.definitions, app.config.cycle
    acting = in_cycle(defs, actor, cycle, chairs_for(defs, tx, actor, cycle))
    if any(g.role == "chair" for g in acting.grants) and all(e.grant.role in NETWORK_ROLES for e in entries):
        return actor.email
    raise Denied(
        f"{actor.email} may not change the directory: that takes an ASEC officer "
        f"(or the Chair of {cycle}, for network roles)",
        actor=actor.email,
    )


def people_add(app: App, raw: Mapping[str, Any], now: datetime, actor_email: str | None = None) -> dict[str, Any]:
    entry = person_entry(dict(raw), app.definitions.network, "person")
    login = _check_login(raw.get("login"))
    return retrying(lambda: _people_add(app, entry, login, now, actor_email))


def _people_add(
    app: App, entry: PersonEntry, login: str | None, now: datetime, actor_email: str | None
) -> dict[str, Any]:
    with app.store.transaction() as tx:
        granted_by = directory_authority(app, tx, actor_email, [entry])
        entry = _check_city(tx, entry)
        added = tx.add_people([entry], granted_by, now)
        if login is not None:
            tx.set_login(entry.email, login)
        planned = reminding.replan_open(app.definitions, app.config, tx, now) if added else 0
    return {
        "email": entry.email,
        "role": entry.grant.role,
        "added": added,
        "granted_by": granted_by,
        "reminders_planned": planned,
    }


def _check_login(value: Any) -> str | None:
    """An OS or database user name (`people add --login`)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text or len(text) > 63 or forbidden_character(text) or any(ch.isspace() or ch == "@" for ch in text):
        raise BadInput(f"--login {value!r} is not a user name")
    return text


def people_import(app: App, path: Path, now: datetime, actor_email: str | None = None) -> dict[str, Any]:
    """All or nothing: every entry is checked, then all are written in one transaction."""
    entries = parse_people(read_file(path, "people"), app.definitions.network, str(path))
    return add_entries(app, entries, str(path), now, actor_email)


def add_entries(
    app: App, entries: Sequence[PersonEntry], source: str, now: datetime, actor_email: str | None = None
) -> dict[str, Any]:
    return retrying(lambda: _add_entries(app, entries, source, now, actor_email))


def _add_entries(
    app: App, entries: Sequence[PersonEntry], source: str, now: datetime, actor_email: str | None
) -> dict[str, Any]:
    with app.store.transaction() as tx:
        granted_by = directory_authority(app, tx, actor_email, entries)
        checked = [_check_city(tx, e) for e in entries]
        added = tx.add_people(checked, granted_by, now)
        planned = reminding.replan_open(app.definitions, app.config, tx, now) if added else 0
    return {
        "file": source,
        "entries": len(entries),
        "roles_added": added,
        "granted_by": granted_by,
        "reminders_planned": planned,
    }


def people_list(app: App, role: str | None = None, member_state: str | None = None) -> list[dict[str, Any]]:
    with app.store.read() as tx:
        rows = tx.people(role, member_state)
        changes = tx.directory_changes()
    granted: dict[tuple[str, str, str, str], Any] = {}
    for c in changes:  # the change that granted the role, not a later renaming
        granted.setdefault((c.email, c.role, c.member_state, c.city), c)
    result = []
    for p, r in rows:
        change = granted.get((p.email, r.role, r.member_state, r.city))
        result.append(
            {
                "email": p.email,
                "name": p.name,
                "role": r.role,
                "member_state": r.member_state or None,
                "city": r.city or None,
                "granted_by": change.actor if change else None,
                "granted_at": show(change.at) if change else None,
            }
        )
    return result


# ---------------------------------------------------------------------------- acting


def _note(note: str | None) -> str | None:
    return None if note is None else check_text(note, "--note", multiline=True)


def _waiver_reasons(waivers: Mapping[str, str] | None) -> dict[str, str]:
    return {rule: check_text(reason, "--reason") for rule, reason in (waivers or {}).items()}


def advance(
    app: App,
    deliverable_id: str,
    trigger: str,
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    waivers: Mapping[str, str] | None = None,
    channel: str = "cli",
    recorded_by: str | None = None,
) -> dict[str, Any]:
    """Fire one trigger: the stage change, its history row and its effects commit together or not at all.

    One pipeline: read, fire (pure), apply, effects (effects.EFFECTS, by the names in the
    definitions), plan reminders once, commit.
    """
    defs = app.definitions
    with app.store.transaction() as tx:
        actor = resolve_actor(tx, actor_email)
        row = tx.deliverable(deliverable_id)
        transition = transition_of(defs.workflow(row.workflow), trigger, row.stage)
        effects = [EFFECTS[name] for name in transition.effects] if transition else []
        if any(effect.directory for effect in effects):
            # Before any row is touched: a directory change holds its turn while it re-plans every
            # open deliverable's reminders, so an advance that had already updated rows and then
            # waited for the turn could deadlock with it on PostgreSQL (exit 6). Turn, then rows.
            tx.lock_directory()
        fields = dict(data or {})
        for effect in effects:
            if effect.gather is not None:
                fields.update(effect.gather(tx, row, fields))
        request = Request(trigger, actor, now, at, _note(note), fields, _waiver_reasons(waivers))
        outcome = fire(defs, row, request, tx.stage, tx.member_cities, chairs=chairs_for(defs, tx, actor, row.cycle))
        entry = tx.apply(outcome, channel, recorded_by, read=row)
        moved = after(row, outcome)
        tx.cancel_reminders(moved.id, keep_version=moved.version)  # those of the stage it left
        opened: list[str] = []
        for effect in effects:
            if effect.follow is not None:
                opened += effect.follow(defs, tx, row, outcome.data, now)
        reminding.plan(defs, app.config, tx, moved, now)
        _plan_opened(app, tx, opened, now)
        view = deliverable_view(defs, moved, now)
        view["event"] = history_view([entry], view["zone"])[0]
        view["opened"] = opened
    return view


def _plan_opened(app: App, tx: Transaction, opened: list[str], now: datetime) -> None:
    """Plan the reminders of deliverables just opened (their first stage may have a deadline)."""
    for new_id in opened:
        reminding.plan(app.definitions, app.config, tx, tx.deliverable(new_id), now)


def nominate(
    app: App,
    code: str,
    path: Path,
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    waivers: Mapping[str, str] | None = None,
    cycle: int | None = None,
    channel: str = "cli",
    recorded_by: str | None = None,
) -> dict[str, Any]:
    """Record a member state's nomination file and fire its `submit` with the nomination as data."""
    nomination = parse_nomination(read_file(path, "nomination"), code, app.definitions.network, str(path))
    return submit_nomination(
        app,
        code,
        nomination,
        now,
        actor_email,
        at=at,
        waivers=waivers,
        cycle=cycle,
        channel=channel,
        recorded_by=recorded_by,
    )


def _refuse_taken_slugs(app: App, nomination: Mapping[str, Any]) -> None:
    """A new city whose slug a stored city of another name or state already has is refused, not merged."""
    with app.store.transaction() as tx:
        for city in nomination["cities"]:
            row = tx.city(city["slug"]) if city["new"] else None
            if row is not None and (row.name, row.member_state) != (city["name"], nomination["member_state"]):
                raise BadInput(
                    f"{city['name']}: slug `{city['slug']}` is already {row.name} ({row.member_state}): "
                    'give an explicit slug = "…"'
                )


def submit_nomination(
    app: App,
    code: str,
    nomination: Mapping[str, Any],
    now: datetime,
    actor_email: str | None,
    *,
    at: datetime | None = None,
    waivers: Mapping[str, str] | None = None,
    cycle: int | None = None,
    channel: str = "cli",
    recorded_by: str | None = None,
) -> dict[str, Any]:
    """Fire a member state's `submit` with its nomination as data (from a file, the portal or a scenario)."""
    _refuse_taken_slugs(app, nomination)
    defs = app.definitions
    state = defs.network.member_state(code)
    year = cycle or app.config.cycle
    if year != defs.founding_cycle:  # expansion: a later cycle's nomination opens when a state nominates
        defs.calendar(year)
        if year < defs.founding_cycle:
            raise BadInput(f"cycle {year} is before the network's founding in {defs.founding_cycle}")
        with app.store.transaction() as tx:
            _plan_opened(app, tx, tx.open([nomination_opening(defs, year, state.code)], now), now)
    return advance(
        app,
        f"{year}/nomination/{state.code.lower()}",
        "submit",
        now,
        actor_email,
        at=at,
        data=nomination,
        waivers=waivers,
        channel=channel,
        recorded_by=recorded_by,
    )


def check_definitions(root: Path) -> list[str]:
    from .definitions import parse_all, read_tree

    if not root.is_dir():
        return [f"{root}: no such workflows folder"]
    _defs, problems = parse_all(read_tree(root))
    return problems


def check_database(app: App) -> None:
    """Fail now, with one line, if the database is not there, not initialised or not upgraded."""
    with app.store.read():
        pass


def outbox(app: App, status: str | None = None) -> list[dict[str, Any]]:
    """The outbox, oldest first: what was queued, sent, is being retried or failed."""
    from .dates import show

    with app.store.read() as tx:
        messages = tx.outbox(status)
    return [
        {
            "message_id": m.message_id,
            "kind": m.kind,
            "deliverable_id": m.deliverable_id,
            "recipients": m.recipients,
            "subject": m.subject,
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "created_at": show(m.created_at),
            "sent_at": show(m.sent_at),
            "next_attempt_at": show(m.next_attempt_at) if m.status == "queued" else None,
        }
        for m in messages
    ]
