"""`ascn simulate`: the scenario played on a fresh sandbox database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import Invocation, cli, json_option
from .options import pass_invocation
from .render import emit_json, line, table


@cli.command()
@click.option(
    "--scenario",
    type=click.Path(path_type=Path),
    help="Scenario file (default: scenarios/<cycle>.toml in the workflows folder).",
)
@click.option(
    "--until", "until", metavar="DATE", help="Stop after this day, e.g. 2018-03-05 (default: the scenario's end)."
)
@click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path),
    default=Path("simulation/ascn.db"),
    show_default=True,
    help="The simulation's own SQLite file; its outbox/ and config.toml go beside it.",
)
@click.option("--quiet", is_flag=True, help="No progress bar; only the summary.")
@json_option
@pass_invocation
def simulate(
    invocation: Invocation, scenario: Path | None, until: str | None, db: Path, quiet: bool, as_json: bool
) -> None:
    """Play the year from a scenario on a fresh embedded database, running each day's due work.

    Ends with where every deliverable stands and the mail sent (one .eml per message in outbox/
    beside the database). Example: ascn simulate --until 2018-03-05
    """
    from datetime import date

    from msgspec.structs import replace

    from ..app import App
    from ..dates import parse_day
    from ..simulation import load_scenario, play, prepare_sandbox

    base = invocation.app.config
    directory = db.parent
    app = App(prepare_sandbox(base, db))
    stop = parse_day(until, "--until") if until else None
    scenario_path = scenario or base.workflows_dir / "scenarios" / f"{base.cycle}.toml"
    plan = load_scenario(scenario_path, app.definitions)
    app = App(replace(app.config, cycle=plan.cycle))
    last = min(stop or plan.until, plan.until)
    total = max((last - plan.start).days + 1, 0)
    if quiet or as_json:
        result = play(app, plan, stop)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True) as bar:
            task = bar.add_task(f"simulating {plan.start} -> {last}", total=total)

            def advance_bar(day: date) -> None:
                bar.update(task, advance=1, description=f"simulating {day}")

            result = play(app, plan, stop, advance_bar)
    _simulation_summary(app, result, directory, last, as_json)
    if not as_json:
        _portal_hint(app, directory, last)


def _portal_hint(app: Any, directory: Path, last: Any) -> None:
    """How to open the sandbox in the portal, signed in as one of the simulation's people."""
    from .. import services

    people = services.people_list(app)
    person = next((p for p in people if p["role"] == "nr"), people[0] if people else None)
    if person is None:
        return
    config = directory / "config.toml"
    line(
        f"open it in the portal: ASCN_NOW={last}T12:00:00+08:00 ascn --config {config} serve, then browse to "
        f"http://127.0.0.1:8000 and sign in as {person['email']} ({person['role']}): the link is printed on the "
        "server's console and written to the outbox"
    )


def _simulation_summary(app: Any, result: Any, directory: Path, last: Any, as_json: bool) -> None:
    from .. import views
    from ..dates import at_local, show
    from ..simulation import cast, remember_clock
    from .render import plural

    zone = app.definitions.calendar(app.config.cycle).zone
    now = at_local(last, 23, zone)
    config = directory / "config.toml"
    remember_clock(config, now, zone)
    rows = views.status(app, now)
    from .. import services

    mail = services.outbox(app)
    people = cast(app)
    summary = {
        "until": str(last),
        "clock": show(now, zone),
        "days": result.days,
        "steps": result.steps,
        "deadlines_passed": result.lapsed,
        "overdue_notices": result.overdue_notices,
        "reminders": result.reminders,
        "messages": len(mail),
        "outbox": str(directory.resolve() / "outbox"),
        "config": str(config),
        "cast": people,
        "deliverables": rows,
    }
    if as_json:
        emit_json(summary)
        return
    table(
        f"Where every deliverable stands on {last}",
        ["id", "stage", "deadline", "overdue"],
        [[r["id"], r["stage"], r["deadline"], "OVERDUE" if r["overdue"] else ""] for r in rows],
    )
    for item in result.lapsed:
        line(f"deadline passed: {item}")
    line(
        f"{plural(result.days, 'day')}, {plural(result.steps, 'step')}; {plural(result.reminders, 'reminder')} and "
        f"{plural(len(result.overdue_notices), 'overdue notice')}; {plural(len(mail), 'message')} in {directory / 'outbox'}"
    )
    line(f"the folder's clock: [clock] now = {show(now, zone)} in {config} ($ASCN_NOW overrides it)")
    line("the cast, to act as (--actor EMAIL):")
    for person in people:
        line(f"  {person['role']:<12} {person['email']}  ({person['name']}; {person['scope']})")
    line(f"look around: ascn --config {config} status --overdue")
