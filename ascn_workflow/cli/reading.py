"""Reading where things stand: status, show, history, the Framework, calendar, diagrams, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import BadInput
from . import Invocation, cli, json_option
from .options import complete_deliverable, complete_workflow, cycle_choice, pass_invocation
from .render import emit_json, line, plural, table, write_output

# ---------------------------------------------------------------------------- reading


@cli.command()
@click.option("--cycle", "cycle_text", metavar="YEAR|all", help="This cycle, or all (default: [calendar] cycle).")
@click.option("--workflow", help="Only this workflow, e.g. nomination.", shell_complete=complete_workflow)
@click.option("--state", "stage", help="Only deliverables at this stage, e.g. awaiting.")
@click.option("--member-state", help="Only this member state (ISO code).")
@click.option("--overdue", is_flag=True, help="Only deliverables past their deadline.")
@json_option
@pass_invocation
def status(
    invocation: Invocation,
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
        invocation.app,
        invocation.now(),
        cycle=cycle_choice(invocation, cycle_text),
        workflow=workflow,
        stage=stage,
        member_state=member_state,
        overdue=overdue,
    )
    if as_json:
        emit_json(rows)
        return
    table(
        plural(len(rows), "deliverable"),
        ["id", "stage", "deadline", "overdue"],
        [[r["id"], r["stage"], r["deadline"], "OVERDUE" if r["overdue"] else ""] for r in rows],
    )


@cli.command("show")
@click.argument("deliverable_id", shell_complete=complete_deliverable)
@json_option
@pass_invocation
def show_command(invocation: Invocation, deliverable_id: str, as_json: bool) -> None:
    """One deliverable: stage, deadline, what may happen next (for --actor), history.

    Example: ascn --actor imd.officer@asec.example.org show 2018/nomination/th
    """
    from .. import views

    view = views.show_deliverable(invocation.app, deliverable_id, invocation.now(), invocation.actor)
    if as_json:
        emit_json(view)
        return
    line(f"{view['id']}  {view['title']}")
    line(f"  stage:    {view['stage']}")
    line(f"  deadline: {view['deadline'] or '-'}{'  (OVERDUE)' if view['overdue'] else ''}")
    if view["you_may"] is not None:
        commands = [f"{a['trigger']}: {a['command']}" for a in view["you_may"]]
        line(f"  you may:  {commands[0] if commands else 'nothing now'}")
        for command in commands[1:]:
            line(f"            {command}")
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
        rows.append([o["trigger"], o["to_stage"], ", ".join(o["roles"]), rules])
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
                e["effective_at"],
                e["trigger"],
                f"{e['from_stage']} -> {e['to_stage']}",
                f"{e['actor']} ({e['role']})",
                "; ".join(x for x in (e["note"], extra) if x),
            ]
        )
    table("History", ["#", "at", "trigger", "stages", "actor", "note"], rows)


@cli.command("history")
@click.argument("deliverable_id", shell_complete=complete_deliverable)
@json_option
@pass_invocation
def history_command(invocation: Invocation, deliverable_id: str, as_json: bool) -> None:
    """The audit trail of one deliverable. Example: ascn history 2018/framework"""
    from .. import views

    events = views.history(invocation.app, deliverable_id)
    if as_json:
        emit_json(events)
        return
    _render_history(events)


@cli.command()
@click.option("--cycle", type=int, help="The cycle (default: [calendar] cycle of the config).")
@json_option
@pass_invocation
def framework(invocation: Invocation, cycle: int | None, as_json: bool) -> None:
    """Where the ASEAN Smart Cities Framework stands, and what comes next.

    Example: ascn framework
    """
    from .. import views

    view = views.framework(invocation.app, invocation.now(), cycle)
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
    for e in view["endorsements"]:
        which = f"version {e['version_number']} ({e['version'][:12]}…)" if e["version"] else "no recorded version"
        meeting = f" at the {e['meeting']}" if e["meeting"] else ""
        line(f"Endorsed by the {e['body']}: {which}{meeting}, on {e['at']}")
    for v in view["unendorsed_versions"]:
        line(f"Not endorsed yet: version {v['version']} ({v['sha256'][:12]}…) {v['title']}, added {v['added_at']}")
    if not view["next"]:
        line("Next: nothing: the Framework is adopted.")
    for n in view["next"]:
        rules = "; ".join(f"{r['rule']}: {'met' if r['met'] else r['reason']}" for r in n["rules"]) or "no rule"
        due = f", due by {n['due_by']}" if n["due_by"] else ""
        line(f"Next: {n['trigger']} -> {n['to_stage']} by {' or '.join(n['roles'])} ({rules}){due}")


# ---------------------------------------------------------------------------- seeing the year


@cli.group("calendar", invoke_without_command=True)
@click.option("--cycle", type=int, help="The cycle (default: [calendar] cycle of the config).")
@click.option("--for", "email", metavar="EMAIL", help="Only the deadlines this person is responsible for.")
@click.option(
    "--ics", "ics", type=click.Path(path_type=Path), help="Write an RFC 5545 calendar file instead of a table."
)
@json_option
@click.pass_context
def calendar_command(ctx: click.Context, cycle: int | None, email: str | None, ics: Path | None, as_json: bool) -> None:
    """Milestones and deadlines, as a table or an .ics file (stable UIDs: re-importing updates);
    `calendar set` moves a milestone, `calendar history` lists every change.

    Example: ascn calendar --for nr@th.example.org --ics th.ics
    """
    if ctx.invoked_subcommand is not None:
        return
    from .. import calendar_feed

    invocation = ctx.find_object(Invocation)
    assert invocation is not None

    year = cycle or invocation.app.config.cycle
    now = invocation.now()
    rows = calendar_feed.entries(invocation.app, year, now, email)
    if ics is not None:
        try:
            ics.write_bytes(calendar_feed.to_ics(rows, year, now, email))
        except OSError as exc:
            raise BadInput(f"cannot write {ics}: {exc}") from None
        line(f"{ics}: {plural(len(rows), 'event')}")
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
@click.argument("workflow", shell_complete=complete_workflow)
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid", show_default=True)
@click.option(
    "--highlight",
    metavar="ID",
    help="Highlight the current stage of this deliverable.",
    shell_complete=complete_deliverable,
)
@click.option("--output", type=click.Path(path_type=Path), help="Write to a file instead of standard output.")
@pass_invocation
def diagram(invocation: Invocation, workflow: str, fmt: str, highlight: str | None, output: Path | None) -> None:
    """Draw a workflow's state machine from its definition.

    Example: ascn diagram framework --format svg --highlight 2018/framework --output framework.svg
    """
    from .. import diagrams

    wf = invocation.app.definitions.workflow(workflow)
    stage = None
    if highlight:
        from .. import views

        view = views.show_deliverable(invocation.app, highlight, invocation.now())
        if view["workflow"] != wf.name:
            raise BadInput(f"{highlight} is a {view['workflow']} deliverable, not {wf.name}")
        stage = view["stage"]
    text = diagrams.mermaid(wf, stage) if fmt == "mermaid" else diagrams.dot(wf, stage)
    data = diagrams.svg(text) if fmt == "svg" else text.encode()
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        write_output(output, data)
        line(f"{output}: {wf.name} ({fmt})")


@cli.group()
def report() -> None:
    """Reports drafted from the database."""


@report.command("annual")
@click.argument("year", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write to a file instead of standard output.")
@json_option
@pass_invocation
def report_annual(invocation: Invocation, year: int, fmt: str, output: Path | None, as_json: bool) -> None:
    """The annual report ASEC drafts for the JCM (HTML is self-contained, no script, no network).

    Example: ascn report annual 2018 --format html --output ascn-2018.html
    """
    from .. import reporting

    data = reporting.annual_report(invocation.app, year, invocation.now())
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
