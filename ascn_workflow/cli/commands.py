"""The commands of SPEC §6. Each: parse, call one service, render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import BadInput
from . import State, cli, json_option
from .render import emit_json, line, table

pass_state = click.make_pass_decorator(State)


def _cycle_choice(state: State, text: str | None) -> int | None:
    """`--cycle 2019` -> 2019; `--cycle all` -> None (every cycle); nothing -> the config's cycle."""
    if text is None:
        return state.app.config.cycle
    if text.strip().lower() == "all":
        return None
    if not text.strip().isdigit():
        raise BadInput(f"--cycle {text!r} is not a year or 'all'")
    return int(text)


def _data_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--data {pair!r} is not KEY=VALUE")
        data[key.strip()] = value
    return data


def _waivers(waive: tuple[str, ...], reason: str | None) -> dict[str, str]:
    if waive and not (reason and reason.strip()):
        raise BadInput("--waive needs --reason TEXT saying why the rule is waived")
    if reason and not waive:
        raise BadInput("--reason goes with --waive RULE")
    return {rule: reason.strip() for rule in waive} if reason else {}


def _at(text: str | None) -> Any:
    from ..dates import parse_instant

    return parse_instant(text, "--at") if text else None


# ---------------------------------------------------------------------------- init


@cli.command()
@click.option("--cycle", type=int, help="The cycle to open (default: [calendar] cycle of the config).")
@json_option
@pass_state
def init(state: State, cycle: int | None, as_json: bool) -> None:
    """Create the database, load the network and calendar, open the cycle's deliverables.

    Running it again changes nothing that exists. Example: ascn init --cycle 2018
    """
    from .. import services

    result = services.init(state.app, cycle or state.app.config.cycle, state.now())
    if as_json:
        emit_json(result)
        return
    line(
        f"cycle {result['cycle']}: {len(result['opened'])} deliverables opened, "
        f"{result['network_rows_added']} member states and cities added"
        + ("" if result["opened"] or result["network_rows_added"] else " (already initialised)")
    )


# ---------------------------------------------------------------------------- people


@cli.group()
def people() -> None:
    """The directory of people and their roles."""


@people.command("add")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["asec", "shepherd", "chair", "focal_point", "nr", "csco"]))
@click.option("--member-state", help="ISO code, for focal_point, nr and chair.")
@click.option("--city", help="City name or slug, for csco.")
@pass_state
def people_add(state: State, email: str, name: str, role: str, member_state: str | None, city: str | None) -> None:
    """Add a person with one role (run again to give more roles).

    Example: ascn people add --email nr@th.example --name "Somchai P." --role nr --member-state TH
    """
    from .. import services

    result = services.people_add(
        state.app,
        {"email": email, "name": name, "role": role, "member_state": member_state, "city": city},
        state.now(),
    )
    line(f"{result['email']}: role {result['role']} {'added' if result['added'] else 'already held'}")


@people.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_state
def people_import(state: State, file: Path) -> None:
    """Import [[people]] from a TOML file: all of it, or nothing if any entry is bad.

    Example: ascn people import people.toml
    """
    from .. import services

    result = services.people_import(state.app, file, state.now())
    line(f"{result['file']}: {result['entries']} entries, {result['roles_added']} roles added")


@people.command("list")
@click.option("--role", help="Only this role.")
@click.option("--member-state", help="Only this member state (ISO code).")
@json_option
@pass_state
def people_list(state: State, role: str | None, member_state: str | None, as_json: bool) -> None:
    """List people and their roles. Example: ascn people list --role nr"""
    from .. import services

    rows = services.people_list(state.app, role, member_state)
    if as_json:
        emit_json(rows)
        return
    table(
        "People",
        ["email", "name", "role", "member state", "city"],
        [[r["email"], r["name"], r["role"], r["member_state"], r["city"]] for r in rows],
    )


# ---------------------------------------------------------------------------- reading


@cli.command()
@click.option("--cycle", "cycle_text", metavar="YEAR|all", help="This cycle, or all (default: [calendar] cycle).")
@click.option("--workflow", help="Only this workflow, e.g. nomination.")
@click.option("--state", "stage", help="Only deliverables at this stage, e.g. awaiting.")
@click.option("--member-state", help="Only this member state (ISO code).")
@click.option("--overdue", is_flag=True, help="Only deliverables past their deadline.")
@json_option
@pass_state
def status(
    state: State,
    cycle_text: str | None,
    workflow: str | None,
    stage: str | None,
    member_state: str | None,
    overdue: bool,
    as_json: bool,
) -> None:
    """Deliverables with their stage, deadline and overdue flag.

    Example: ascn status --workflow nomination --overdue
    """
    from .. import views

    rows = views.status(
        state.app,
        state.now(),
        cycle=_cycle_choice(state, cycle_text),
        workflow=workflow,
        stage=stage,
        member_state=member_state,
        overdue=overdue,
    )
    if as_json:
        emit_json(rows)
        return
    table(
        f"{len(rows)} deliverables",
        ["id", "stage", "deadline", "overdue"],
        [[r["id"], r["stage"], r["deadline"], "OVERDUE" if r["overdue"] else ""] for r in rows],
    )


@cli.command("show")
@click.argument("deliverable_id")
@json_option
@pass_state
def show_command(state: State, deliverable_id: str, as_json: bool) -> None:
    """One deliverable: stage, deadline, what may happen next (for --actor), history.

    Example: ascn --actor officer@asean.example show 2018/nomination/th
    """
    from .. import views

    view = views.show_deliverable(state.app, deliverable_id, state.now(), state.actor)
    if as_json:
        emit_json(view)
        return
    line(f"{view['id']}  {view['title']}")
    line(f"  stage:    {view['stage']}")
    line(f"  deadline: {view['deadline'] or '-'}{'  (OVERDUE)' if view['overdue'] else ''}")
    if view["allowed_triggers"] is not None:
        line(f"  you may:  {', '.join(view['allowed_triggers']) or 'nothing now'}")
    _render_next(view["next"])
    _render_history(view["history"])
    if view["reminders"]:
        table(
            "Reminders",
            ["due", "recipient", "days before", "status"],
            [[r["due_at"], r["recipient"], r["offset_days"], r["status"]] for r in view["reminders"]],
        )


def _render_next(options: list[dict[str, Any]]) -> None:
    if not options:
        line("  next:     none (final stage)")
        return
    rows = []
    for o in options:
        rules = "; ".join(f"{r['rule']}: {'ok' if r['met'] else r['reason']}" for r in o["rules"]) or "-"
        rows.append([o["trigger"], o["to"], ", ".join(o["roles"]), rules])
    table("Next", ["trigger", "to", "roles", "rules"], rows)


def _render_history(events: list[dict[str, Any]]) -> None:
    if not events:
        line("  history:  none yet")
        return
    rows = []
    for e in events:
        extra = "; ".join(f"waived {k}: {v}" for k, v in e["waivers"].items())
        rows.append(
            [
                e["seq"],
                e["at"],
                e["trigger"],
                f"{e['from']} -> {e['to']}",
                f"{e['actor']} ({e['role']})",
                "; ".join(x for x in (e["note"], extra) if x),
            ]
        )
    table("History", ["#", "at", "trigger", "stages", "actor", "note"], rows)


@cli.command("history")
@click.argument("deliverable_id")
@json_option
@pass_state
def history_command(state: State, deliverable_id: str, as_json: bool) -> None:
    """The audit trail of one deliverable. Example: ascn history 2018/framework"""
    from .. import views

    events = views.history(state.app, deliverable_id)
    if as_json:
        emit_json(events)
        return
    _render_history(events)


@cli.command()
@click.option("--cycle", type=int, help="The cycle (default: [calendar] cycle of the config).")
@json_option
@pass_state
def framework(state: State, cycle: int | None, as_json: bool) -> None:
    """Where the ASEAN Smart Cities Framework stands, and what comes next.

    Example: ascn framework
    """
    from .. import views

    view = views.framework(state.app, state.now(), cycle)
    if as_json:
        emit_json(view)
        return
    line(
        f"{view['title']} ({view['id']}): {view['stage']}"
        + (f", deadline {view['deadline']}" if view["deadline"] else "")
        + (" OVERDUE" if view["overdue"] else "")
    )
    table(
        "Path",
        ["stage", "reached", "at", "by"],
        [
            [
                p["stage"] + (" <" if p["current"] else ""),
                "yes" if p["reached"] else "",
                p["at"],
                f"{p['by']} ({p['role']})" if p["by"] else "",
            ]
            for p in view["path"]
        ],
    )
    if not view["next"]:
        line("Next: nothing: the Framework is adopted.")
    for n in view["next"]:
        rules = "; ".join(f"{r['rule']}: {'met' if r['met'] else r['reason']}" for r in n["rules"]) or "no rule"
        due = f", due by {n['due_by']}" if n["due_by"] else ""
        line(f"Next: {n['trigger']} -> {n['to']} by {' or '.join(n['roles'])} ({rules}){due}")


# ---------------------------------------------------------------------------- acting


@cli.command()
@click.argument("deliverable_id")
@click.argument("trigger")
@click.option("--note", help="Why; required by some triggers (e.g. return_for_correction).")
@click.option(
    "--data", "data", multiple=True, metavar="KEY=VALUE", help="A field of the transition, e.g. partner=Japan."
)
@click.option(
    "--at", "at", metavar="INSTANT", help="When it really happened (ISO 8601 with offset); not in the future."
)
@click.option("--waive", multiple=True, metavar="RULE", help="Waive a named rule (Chair or shepherd only).")
@click.option("--reason", help="Why the rule is waived (required with --waive).")
@json_option
@pass_state
def advance(
    state: State,
    deliverable_id: str,
    trigger: str,
    note: str | None,
    data: tuple[str, ...],
    at: str | None,
    waive: tuple[str, ...],
    reason: str | None,
    as_json: bool,
) -> None:
    """Fire TRIGGER on a deliverable, recording who, when and why.

    Example: ascn --actor sg-shepherd@mnd.example advance 2018/framework circulate --at 2018-03-20T10:00+08:00
    """
    from .. import services

    result = services.advance(
        state.app,
        deliverable_id,
        trigger,
        state.now(),
        state.actor,
        at=_at(at),
        note=note,
        data=_data_pairs(data),
        waivers=_waivers(waive, reason),
    )
    _render_advance(result, as_json)


def _render_advance(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    event = result["event"]
    line(
        f"{result['id']}: {event['from']} -> {event['to']} ({event['trigger']} by {event['actor']} "
        f"as {event['role']}, at {event['at']})"
    )
    for rule, why in event["waivers"].items():
        line(f"  waived {rule}: {why}")
    if result["opened"]:
        line(f"  opened {len(result['opened'])} deliverables: {', '.join(result['opened'])}")


@cli.command()
@click.argument("member_state")
@click.option("--file", "file", required=True, type=click.Path(path_type=Path), help="The nomination TOML file.")
@click.option("--at", "at", metavar="INSTANT", help="When it was really submitted (ISO 8601 with offset).")
@click.option("--waive", multiple=True, metavar="RULE", help="Waive a named rule (Chair or shepherd only).")
@click.option("--reason", help="Why the rule is waived (required with --waive).")
@click.option("--cycle", type=int, help="A later cycle's nomination of further cities (default: [calendar] cycle).")
@json_option
@pass_state
def nominate(
    state: State,
    member_state: str,
    file: Path,
    at: str | None,
    waive: tuple[str, ...],
    reason: str | None,
    cycle: int | None,
    as_json: bool,
) -> None:
    """Record a member state's nomination (cities, CSCOs, NR) and submit it.

    In a later cycle it nominates further cities (expansion); the rules count the cities that are
    members already. Example: ascn --actor nr@th.example nominate TH --file nominations/th.toml
    """
    from .. import services

    result = services.nominate(
        state.app,
        member_state,
        file,
        state.now(),
        state.actor,
        at=_at(at),
        waivers=_waivers(waive, reason),
        cycle=cycle,
    )
    _render_advance(result, as_json)


# ---------------------------------------------------------------------------- due work


@cli.command()
@json_option
@pass_state
def tick(state: State, as_json: bool) -> None:
    """One pass of due work: deadline transitions, overdue notices, reminders, the outbox.

    Cron-friendly and safe to run twice at once. Example: ASCN_NOW=2018-02-14T12:00+08:00 ascn tick
    """
    from ..due import run_due_work

    report = run_due_work(state.app, state.now())
    if as_json:
        emit_json(report.as_dict())
        return
    for item in report.lapsed:
        line(f"deadline passed: {item}")
    for item in report.overdue_notices:
        line(f"overdue notice: {item}")
    for item in report.reminders:
        line(f"reminder: {item}")
    if report.skipped_reminders:
        line(f"not sent (deadline already passed): {report.skipped_reminders} reminders")
    for item in report.retrying:
        line(f"delivery failed, will retry: {item}")
    for item in report.failed:
        line(f"delivery failed for good: {item}")
    line(f"delivered {len(report.delivered)} messages" if report.delivered or not report.idle else "nothing due")


@cli.command()
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Seconds between safety passes."
)
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING"]), default="INFO", show_default=True)
@pass_state
def scheduler(state: State, interval: float, log_level: str) -> None:
    """Run due work continuously (APScheduler); stop with Ctrl-C or SIGTERM.

    Example: ascn scheduler --interval 30
    """
    import logging
    import os

    from ..scheduling import serve

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = state.app
    _ = app.store  # fail now, with one line, if the database is not initialised
    config_path = str(app.config.path.resolve()) if app.config.path else None
    if config_path is None:
        raise BadInput("the scheduler needs a config file (--config or ./config.toml)")
    fixed = os.environ.get("ASCN_NOW")
    if fixed:
        state.now()  # validate it
    serve(config_path, interval, fixed)


@cli.group()
def outbox() -> None:
    """Messages queued, sent and failed."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed"]), help="Only this status.")
@json_option
@pass_state
def outbox_list(state: State, status: str | None, as_json: bool) -> None:
    """List the outbox. Example: ascn outbox list --status queued"""
    from ..dates import show

    store = state.app.store
    with store.session() as session:
        rows = [
            {
                "message_id": m.message_id,
                "kind": m.kind,
                "deliverable": m.deliverable_id,
                "to": m.recipients,
                "subject": m.subject,
                "status": m.status,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": show(m.created_at),
                "sent_at": show(m.sent_at),
                "next_attempt_at": show(m.next_attempt_at) if m.status == "queued" else None,
            }
            for m in store.outbox(session, status)
        ]
    if as_json:
        emit_json(rows)
        return
    table(
        f"{len(rows)} messages",
        ["status", "kind", "deliverable", "to", "attempts", "last error"],
        [[r["status"], r["kind"], r["deliverable"], ", ".join(r["to"]), r["attempts"], r["last_error"]] for r in rows],
    )


# ---------------------------------------------------------------------------- cycles and projects


@cli.group()
def cycle() -> None:
    """The yearly cycles: 2018 founds the network, then it meets every year to 2025."""


@cycle.command("open")
@click.argument("year", type=int)
@json_option
@pass_state
def cycle_open(state: State, year: int, as_json: bool) -> None:
    """Open a cycle's deliverables from its calendar (idempotent).

    The annual meeting and report, and for each city that joined earlier a progress review and a
    twinning follow-up. Example: ascn cycle open 2019
    """
    from .. import services

    result = services.open_cycle(state.app, year, state.now())
    if as_json:
        emit_json(result)
        return
    line(
        f"cycle {year} (Chair: {result['chair']}): {len(result['opened'])} deliverables opened"
        + ("" if result["opened"] else " (already open)")
    )


@cycle.command("list")
@json_option
@pass_state
def cycle_list(state: State, as_json: bool) -> None:
    """The cycles with their Chair and state. Example: ascn cycle list"""
    from .. import services

    rows = services.cycles(state.app, state.now())
    if as_json:
        emit_json(rows)
        return
    table(
        "Cycles",
        ["cycle", "Chair", "state", "deliverables", "finished", "overdue"],
        [
            [
                r["cycle"],
                f"{r['chair_name']} ({r['chair']})",
                r["state"],
                r["deliverables"],
                r["finished"],
                r["overdue"],
            ]
            for r in rows
        ],
    )


@cli.group()
def project() -> None:
    """Bankable projects of member cities with private-sector solution providers."""


@project.command("add")
@click.argument("city")
@click.option("--title", required=True, help="What the project is.")
@click.option("--focus", help="transport, water, energy, health care, education, public services, data or ICT.")
@click.option("--funding", help="A multilateral bank (World Bank/IFC, ADB, AIIB, GIH) or an external partner.")
@click.option("--cycle", type=int, help="The cycle (default: the latest open cycle that has begun).")
@json_option
@pass_state
def project_add(
    state: State, city: str, title: str, focus: str | None, funding: str | None, cycle: int | None, as_json: bool
) -> None:
    """Propose a project for a member city (its CSCO, its NR, ASEC or the shepherd).

    Example: ascn --actor csco@da-nang.example project add da-nang --title "Smart traffic lights" --focus transport --funding ADB
    """
    from .. import projects

    result = projects.add_project(
        state.app, city, title, state.now(), state.actor, focus=focus, funding=funding, cycle=cycle
    )
    if as_json:
        emit_json(result)
        return
    line(f"{result['id']}: proposed ({result['title']})")


@project.command("list")
@click.option("--city", help="Only this city (slug).")
@click.option("--cycle", "cycle_text", metavar="YEAR|all", help="This cycle, or all (default: all).")
@json_option
@pass_state
def project_list(state: State, city: str | None, cycle_text: str | None, as_json: bool) -> None:
    """List projects with stage, provider, funding and focus. Example: ascn project list --city da-nang"""
    from .. import projects

    year = None if cycle_text is None else _cycle_choice(state, cycle_text)
    rows = projects.list_projects(state.app, state.now(), city=city, cycle=year)
    if as_json:
        emit_json(rows)
        return
    table(
        f"{len(rows)} projects",
        ["id", "stage", "title", "provider", "funding", "focus"],
        [[r["id"], r["stage"], r["title"], r["provider"], (r["funding"] or {}).get("name"), r["focus"]] for r in rows],
    )


# ---------------------------------------------------------------------------- seeing the year


@cli.command("calendar")
@click.option("--cycle", type=int, help="The cycle (default: [calendar] cycle of the config).")
@click.option("--for", "email", metavar="EMAIL", help="Only the deadlines this person is responsible for.")
@click.option(
    "--ics", "ics", type=click.Path(path_type=Path), help="Write an RFC 5545 calendar file instead of a table."
)
@json_option
@pass_state
def calendar_command(state: State, cycle: int | None, email: str | None, ics: Path | None, as_json: bool) -> None:
    """Milestones and deadlines, as a table or an .ics file (stable UIDs: re-importing updates).

    Example: ascn calendar --for nr@th.example --ics th.ics
    """
    from .. import calendar_feed

    year = cycle or state.app.config.cycle
    now = state.now()
    rows = calendar_feed.entries(state.app, year, now, email)
    if ics is not None:
        try:
            ics.write_bytes(calendar_feed.to_ics(rows, year, now))
        except OSError as exc:
            raise BadInput(f"cannot write {ics}: {exc}") from None
        line(f"{ics}: {len(rows)} events")
        return
    shown = calendar_feed.as_json(rows)
    if as_json:
        emit_json(shown)
        return
    table(
        f"ASCN {year}" + (f" for {email}" if email else ""),
        ["when", "what", "id", "kind"],
        [[r["start"], r["title"], r["id"], r["kind"] + (" OVERDUE" if r.get("overdue") else "")] for r in shown],
    )


@cli.command()
@click.argument("workflow")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid", show_default=True)
@click.option("--highlight", metavar="ID", help="Highlight the current stage of this deliverable.")
@click.option("--output", type=click.Path(path_type=Path), help="Write to a file instead of standard output.")
@pass_state
def diagram(state: State, workflow: str, fmt: str, highlight: str | None, output: Path | None) -> None:
    """Draw a workflow's state machine from its definition.

    Example: ascn diagram framework --format svg --highlight 2018/framework --output framework.svg
    """
    from .. import diagrams

    wf = state.app.definitions.workflow(workflow)
    stage = None
    if highlight:
        from .. import views

        view = views.show_deliverable(state.app, highlight, state.now())
        if view["workflow"] != wf.name:
            raise BadInput(f"{highlight} is a {view['workflow']} deliverable, not {wf.name}")
        stage = view["stage"]
    text = diagrams.mermaid(wf, stage) if fmt == "mermaid" else diagrams.dot(wf, stage)
    data = diagrams.svg(text) if fmt == "svg" else text.encode()
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        output.write_bytes(data)
        line(f"{output}: {wf.name} ({fmt})")


@cli.group()
def report() -> None:
    """Reports drafted from the database."""


@report.command("annual")
@click.argument("year", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write to a file instead of standard output.")
@json_option
@pass_state
def report_annual(state: State, year: int, fmt: str, output: Path | None, as_json: bool) -> None:
    """The annual report ASEC drafts for the JCM (HTML is self-contained, no script, no network).

    Example: ascn report annual 2018 --format html --output ascn-2018.html
    """
    from .. import reporting

    data = reporting.annual_report(state.app, year, state.now())
    if as_json:
        emit_json({k: v for k, v in data.items() if k != "timeline_svg"})
        return
    text = reporting.render(data, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc}") from None
    line(f"{output}: annual report {year} ({fmt})")


# ---------------------------------------------------------------------------- simulation

SIMULATION_MARK = ".ascn-simulation"


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
@pass_state
def simulate(state: State, scenario: Path | None, until: str | None, db: Path, quiet: bool, as_json: bool) -> None:
    """Play the year from a scenario on a fresh embedded database, running each day's due work.

    Ends with where every deliverable stands and the mail sent (one .eml per message in outbox/
    beside the database). Example: ascn simulate --until 2018-03-05
    """
    from dataclasses import replace
    from datetime import date

    from ..app import App
    from ..simulation import load_scenario, play

    base = state.app.config
    directory = db.parent
    app = App(_fresh_simulation_config(base, db))
    stop = _parse_day(until) if until else None
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


def _parse_day(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"--until {text!r} is not a date, e.g. 2018-03-05") from None


def _fresh_simulation_config(base: Any, db: Path) -> Any:
    """A config for a new SQLite file; refuses to replace a database a simulation did not make."""
    from dataclasses import replace

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
        f'[database]\nurl = "sqlite:///{db.name}"\n\n[calendar]\ncycle = {base.cycle}\n\n'
        f'[workflows]\ndir = "{base.workflows_dir.resolve()}"\n\n[mail]\nbackend = "file"\noutbox = "outbox"\n',
        encoding="utf-8",
    )
    mail = replace(base.mail, backend="file", outbox=directory / "outbox")
    return replace(base, path=directory / "config.toml", database_url=f"sqlite:///{db}", mail=mail)


def _simulation_summary(app: Any, result: Any, directory: Path, last: Any, as_json: bool) -> None:
    from .. import views
    from ..dates import at_local

    now = at_local(last, 23, app.definitions.calendar(app.config.cycle).zone)
    rows = views.status(app, now)
    with app.store.session() as session:
        mail = app.store.outbox(session)
    summary = {
        "until": str(last),
        "days": result.days,
        "steps": result.steps,
        "deadlines_passed": result.lapsed,
        "overdue_notices": result.overdue_notices,
        "reminders": result.reminders,
        "messages": len(mail),
        "outbox": str(directory.resolve() / "outbox"),
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
        f"{result.days} days, {result.steps} steps; {result.reminders} reminders and "
        f"{len(result.overdue_notices)} overdue notices; {len(mail)} messages in {directory / 'outbox'}"
    )
    line(f"look around: ascn --config {directory / 'config.toml'} status")


# ---------------------------------------------------------------------------- the database


@cli.group()
def db() -> None:
    """Schema migrations (Alembic, shipped in the package)."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: State) -> None:
    """Bring the database's schema to this version's newest migration. Example: ascn db upgrade"""
    from .. import maintenance

    result = maintenance.db_upgrade(state.app)
    line(f"schema: {result['from'] or 'empty'} -> {result['to']}")


@db.command("current")
@json_option
@pass_state
def db_current(state: State, as_json: bool) -> None:
    """Which migration the database is at. Example: ascn db current"""
    from .. import maintenance

    result = maintenance.db_current(state.app)
    if as_json:
        emit_json(result)
        return
    status = "up to date" if result["up_to_date"] else "run `ascn db upgrade`"
    line(f"schema: {result['current'] or 'none (run ascn init)'} (newest: {result['head']}; {status})")


@cli.group()
def audit() -> None:
    """Tamper evidence of the history."""


@audit.command("verify")
@json_option
@pass_state
def audit_verify(state: State, as_json: bool) -> None:
    """Check every history row against its hash chain; exit 7 when anything was edited, deleted,
    inserted or reordered. Example: ascn audit verify
    """
    from .. import maintenance

    result = maintenance.audit_verify(state.app)
    if as_json:
        emit_json(result)
    else:
        for p in result["problems"]:
            click.echo(f"{p['deliverable']} #{p['position']}: {p['kind']}: {p['message']}", err=True)
        if not result["problems"]:
            line(f"{result['rows']} history rows of {result['deliverables']} deliverables: all chains intact")
    if result["problems"]:
        raise click.exceptions.Exit(7)


@cli.command("export")
@click.argument("file", type=click.Path(path_type=Path))
@pass_state
def export_command(state: State, file: Path) -> None:
    """Write network, people, deliverables, history and outbox as JSON. Example: ascn export ascn.json"""
    from .. import maintenance

    result = maintenance.export_all(state.app, file)
    line(
        f"{file}: {result['deliverables']} deliverables, {result['history']} history rows, {result['outbox']} messages"
    )


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_state
def import_command(state: State, file: Path) -> None:
    """Restore an export into an empty database (all or nothing). Example: ascn import ascn.json"""
    from .. import maintenance

    result = maintenance.import_all(state.app, file)
    line(f"{file}: {result['deliverables']} deliverables, {result['history']} history rows restored")


# ---------------------------------------------------------------------------- definitions


@cli.group()
def workflows() -> None:
    """Workflow, rule, network and calendar definitions."""


@workflows.command("check")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Definitions folder (default: from config).")
@json_option
@pass_state
def workflows_check(state: State, directory: Path | None, as_json: bool) -> None:
    """Validate every definition file; list all problems (exit 2) or say all is well.

    Example: ascn workflows check --dir workflows
    """
    from .. import services

    root = directory or state.app.config.workflows_dir
    problems = services.check_definitions(root)
    if as_json:
        emit_json({"dir": str(root), "problems": problems})
    elif problems:
        for problem in problems:
            click.echo(problem, err=True)
    else:
        line(f"{root}: all definitions valid")
    if problems:
        raise click.exceptions.Exit(2)
