"""Playing a scenario: who does what when, interleaved with a due-work pass every simulated day.

A scenario (`workflows/scenarios/*.toml`) lists people and steps; each step is an `advance` or a
`nominate` by an actor at an instant. Steps and the daily passes run in time order through the
same services as the CLI, so a simulation exercises exactly what officers and the scheduler do.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from msgspec import Struct, field, structs

from . import services
from .app import App
from .config import Config
from .dates import at_local, show, utc
from .due import DueReport, run_due_work
from .errors import AscnError, BadInput
from .input_files import read_text
from .nominations import nomination_from_doc
from .people import people_from_doc
from .spec import Definitions

SIMULATION_MARK = ".ascn-simulation"


def prepare_sandbox(base: Config, db: Path) -> Config:
    """A config for a new SQLite file; refuses to replace a database a simulation did not make."""
    db = db.resolve()
    directory = db.parent
    if db.exists() and not (directory / SIMULATION_MARK).exists():
        raise BadInput(f"{db} is a database that is not a simulation's; choose another --db")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SIMULATION_MARK).write_text("made by `ascn simulate`; its ascn.db and outbox are replaced each run\n")
    for old in [
        db,
        db.with_name(db.name + "-wal"),
        db.with_name(db.name + "-shm"),
        *(directory / "outbox").glob("*.eml"),
    ]:
        old.unlink(missing_ok=True)
    (directory / "config.toml").write_text(
        "# Written by `ascn simulate`: look around with  ascn --config THIS_FILE status\n"
        "# [clock] now (added when the simulation ends) is this folder's moment; $ASCN_NOW overrides it.\n"
        f'[database]\nurl = "sqlite:///{db.name}"\n\n[calendar]\ncycle = {base.cycle}\n\n'
        f'[workflows]\ndir = "{base.workflows_dir.resolve()}"\n\n[mail]\nbackend = "file"\noutbox = "outbox"\n'
        "\n# document versions, beside the database (content-addressed: named by their SHA-256)\n"
        '[documents]\ndir = "documents"\n'
        "\n# the portal on this sandbox runs without a secret in the environment (never do this for real)\n"
        "[web]\nsimulation = true\n",
        encoding="utf-8",
    )
    mail = structs.replace(base.mail, backend="file", outbox=directory / "outbox")
    web = structs.replace(base.web, simulation=True)
    return structs.replace(
        base,
        path=directory / "config.toml",
        database_url=f"sqlite:///{db}",
        mail=mail,
        web=web,
        documents_dir=directory / "documents",
    )


def remember_clock(config_path: Path, now: datetime, zone: str = "UTC") -> None:
    """Write the simulation's last moment into its config, so commands on its database judge
    deadlines against the simulated day, not today's date."""
    text = config_path.read_text(encoding="utf-8")
    text = text.split("\n[clock]\n", 1)[0].rstrip("\n") + "\n"
    config_path.write_text(text + f'\n[clock]\nnow = "{show(now, zone)}"\n', encoding="utf-8")


ROLES_SHOWN = ("asec", "chair", "shepherd", "focal_point", "nr", "csco")


def cast(app: App) -> list[dict[str, str]]:
    """One person per role, to act as in the README's examples (the first by address)."""
    with app.store.read() as tx:
        people = tx.people()
    chosen: dict[str, dict[str, str]] = {}
    for person, role in sorted(people, key=lambda pr: pr[0].email):
        if role.role in ROLES_SHOWN and role.role not in chosen:
            scope = role.city or role.member_state or "network"
            chosen[role.role] = {"role": role.role, "email": person.email, "name": person.name, "scope": scope}
    return [chosen[r] for r in ROLES_SHOWN if r in chosen]


class Step(Struct, frozen=True):
    number: int
    at: datetime
    actor: str
    target: str  # a deliverable id, or a member state code for `nominate`
    trigger: str
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    waivers: dict[str, str] = field(default_factory=dict)
    nomination: dict[str, Any] | None = None
    action: str = "advance"  # advance | nominate | document | calendar_set | extend
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.nomination is not None:
            return f"{self.actor}: nominate {self.target}"
        if self.action != "advance":
            return f"{self.actor}: {self.action.replace('_', ' ')} {self.target}"
        return f"{self.actor}: advance {self.target} {self.trigger}"


class Scenario(Struct, frozen=True):
    path: Path
    cycle: int
    start: date
    until: date
    tick_hour: int
    people: list[Any]
    steps: list[Step]


class StepFailed(AscnError):
    """A scripted step was refused: names the step, its date and the rule; keeps the exit code."""

    def __init__(self, step: Step, error: AscnError) -> None:
        super().__init__(
            f"step {step.number} ({show(step.at)}, {step.describe()}) failed: {error.message}",
            step=step.number,
            **error.context,
        )
        self.exit_code = error.exit_code
        self.kind = error.kind


def load_scenario(path: Path, defs: Definitions) -> Scenario:
    try:
        doc = tomllib.loads(read_text(path, "scenario"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: {exc}") from None
    cycle = doc.get("cycle")
    start, until = doc.get("start"), doc.get("until")
    if not isinstance(cycle, int) or not isinstance(start, date) or not isinstance(until, date):
        raise BadInput(f"{path}: needs cycle, start and until")
    people = people_from_doc(doc.get("people", []), defs.network, str(path))
    steps = [_step(i, raw, defs, path) for i, raw in enumerate(doc.get("steps", []), start=1)]
    steps.sort(key=lambda s: (s.at, s.number))
    return Scenario(path, cycle, start, until, int(doc.get("tick_hour", 12)), people, steps)


def _step(number: int, raw: dict[str, Any], defs: Definitions, path: Path) -> Step:
    where = f"{path}: steps #{number}"
    at = raw.get("at")
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise BadInput(f"{where}: `at` must be an instant with an offset, e.g. 2018-02-12T10:00:00+07:00")
    actor = raw.get("actor")
    if not isinstance(actor, str):
        raise BadInput(f"{where}: needs an actor")
    waivers = dict(raw.get("waive", {}))
    if "nominate" in raw:
        code = str(raw["nominate"])
        nomination = nomination_from_doc(dict(raw.get("nomination", {})), code, defs.network, where)
        return Step(number, utc(at), actor, code, "submit", waivers=waivers, nomination=nomination)
    for action in ("document", "calendar_set", "extend"):
        if action in raw:
            params = {k: v for k, v in raw.items() if k not in ("at", "actor", action)}
            if action == "document" and not isinstance(params.get("content"), str):
                raise BadInput(f"{where}: a document step needs `content`, the text of the version")
            if action != "document" and not isinstance(params.get("reason"), str):
                raise BadInput(f"{where}: {action} needs a `reason`")
            return Step(number, utc(at), actor, str(raw[action]), action, action=action, params=params)
    if "advance" not in raw or "trigger" not in raw:
        raise BadInput(f"{where}: needs `advance` and `trigger`, or `nominate`, `document`, `calendar_set`, `extend`")
    return Step(
        number,
        utc(at),
        actor,
        str(raw["advance"]),
        str(raw["trigger"]),
        raw.get("note"),
        {k: str(v) for k, v in raw.get("data", {}).items()},
        waivers,
    )


class SimulationResult(Struct):
    days: int = 0
    steps: int = 0
    lapsed: list[str] = field(default_factory=list)
    overdue_notices: list[str] = field(default_factory=list)
    reminders: int = 0
    delivered: int = 0

    def add(self, report: DueReport) -> None:
        self.lapsed += report.lapsed
        self.overdue_notices += report.overdue_notices
        self.reminders += len(report.reminders)
        self.delivered += len(report.delivered)


def play(
    app: App, scenario: Scenario, until: date | None = None, on_day: Callable[[date], None] | None = None
) -> SimulationResult:
    """Open the cycle, load the people, then run steps and daily passes in time order up to `until`."""
    last = min(until or scenario.until, scenario.until)
    zone = app.definitions.calendar(scenario.cycle).zone
    opening = at_local(scenario.start, 0, zone)
    services.init(app, scenario.cycle, opening)
    # The scenario's ASEC officer loads its people: the directory's first, or the one already there.
    asec = next((p.email for p in scenario.people if p.grant.role == "asec"), None)
    services.add_entries(app, scenario.people, str(scenario.path), opening, asec)
    result = SimulationResult()
    pending = list(scenario.steps)
    day = scenario.start
    while day <= last:
        tick = at_local(day, scenario.tick_hour, zone)
        while pending and pending[0].at <= tick:
            step = pending.pop(0)
            result.add(run_due_work(app, step.at))  # what a running scheduler would have done by then
            _run(app, step, scenario.cycle)
            result.steps += 1
        result.add(run_due_work(app, tick))
        result.days += 1
        if on_day is not None:
            on_day(day)
        day += timedelta(days=1)
    return result


def _run(app: App, step: Step, cycle: int) -> None:
    from . import calendar_changes, documents

    p = step.params
    try:
        if step.action == "document":
            name = str(p.get("filename", "document.txt"))
            documents.add_content(
                app, step.target, str(p["content"]).encode(), name, step.at, step.actor, p.get("title")
            )
        elif step.action == "calendar_set":
            calendar_changes.set_milestone(
                app, cycle, step.target, str(p["date"]), step.at, step.actor,
                end_text=str(p["end"]) if "end" in p else None, zone=p.get("zone"), reason=str(p["reason"]),
            )  # fmt: skip
        elif step.action == "extend":
            calendar_changes.extend(app, step.target, str(p["to"]), step.at, step.actor, reason=str(p["reason"]))
        elif step.nomination is not None:
            services.submit_nomination(
                app, step.target, step.nomination, step.at, step.actor, waivers=step.waivers, cycle=cycle
            )
        else:
            services.advance(
                app,
                step.target,
                step.trigger,
                step.at,
                step.actor,
                note=step.note,
                data=step.data,
                waivers=step.waivers,
            )
    except AscnError as error:
        raise StepFailed(step, error) from None
