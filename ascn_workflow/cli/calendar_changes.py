"""The calendar moves: `calendar set`, `calendar history` and `extend`."""

from __future__ import annotations

from typing import Any

import click

from . import Invocation, cli, json_option
from .options import pass_invocation
from .reading import calendar_command
from .render import emit_json, line


@calendar_command.command("set")
@click.argument("milestone")
@click.argument("day", metavar="DATE")
@click.option("--end", "end", metavar="DATE", help="The last day (default: the same length as before).")
@click.option("--zone", help="The milestone's IANA time zone (default: unchanged).")
@click.option("--reason", help="Why the date changes (required).")
@click.option("--cycle", type=int, help="The cycle (default: [calendar] cycle of the config).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@json_option
@pass_invocation
def calendar_set(
    invocation: Invocation,
    milestone: str,
    day: str,
    end: str | None,
    zone: str | None,
    reason: str | None,
    cycle: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move or fix one milestone (ASEC or the Chair): the deadlines that follow it move, their
    reminders are planned again and the people concerned are told, in one transaction.

    Example: ascn --actor officer@asec.example calendar set scgw 2018-05-29 --reason "venue moved"
    """
    from .. import calendar_changes

    result = calendar_changes.set_milestone(
        invocation.app,
        cycle or invocation.app.config.cycle,
        milestone,
        day,
        invocation.now(),
        invocation.acting_actor(),
        end_text=end,
        zone=zone,
        reason=reason,
        dry_run=dry_run,
    )
    if as_json:
        emit_json(result)
        return
    old, new = result["old"], result["new"]
    line(
        f"{result['cycle']} {result['milestone']}: {_span(old)} -> {_span(new)}"
        + (" (dry run: nothing changed)" if result["dry_run"] else f" (change {result['change']})")
    )
    _render_diff(result)


def _span(value: dict[str, Any]) -> str:
    days = value["start"] if value["start"] == value["end"] else f"{value['start']}..{value['end']}"
    return f"{days} {value['zone']}"


def _render_diff(result: dict[str, Any]) -> None:
    for d in result["deliverables"]:
        stage = f" ({d['from_stage']} -> {d['stage']})" if "from_stage" in d else ""
        line(f"  deadline {d['id']}{stage}: {d['from']} -> {d['to']} ({d['zone']})")
    for d in result.get("kept", []):
        line(f"  kept     {d['id']}: {d['deadline']} (extended on its own)")
    for r in result["reminders_cancelled"]:
        line(f"  reminder cancelled {r['deliverable_id']} to {r['recipient']} at {r['due_at']}")
    for r in result["reminders_planned"]:
        line(f"  reminder planned   {r['deliverable_id']} to {r['recipient']} at {r['due_at']}")
    for r in result["reminders_already_sent"]:
        line(f"  reminder sent already (not again) {r['deliverable_id']} to {r['recipient']} at {r['due_at']}")
    told = result["told"]
    line(f"  told: {', '.join(told) if told else 'nobody'}")


@calendar_command.command("history")
@click.option("--cycle", type=int, help="Only this cycle (default: every cycle).")
@json_option
@pass_invocation
def calendar_history(invocation: Invocation, cycle: int | None, as_json: bool) -> None:
    """Every calendar change and extension: who, when, why, old -> new.

    Example: ascn calendar history --cycle 2018
    """
    from .. import calendar_changes

    rows = calendar_changes.history(invocation.app, cycle)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        line("no calendar change recorded")
    for r in rows:
        old, new = r["old"], r["new"]
        if r["kind"] == "milestone":
            what = f"{r['cycle']} {r['target']}: {_span(old)} -> {_span(new)}"
        else:  # the deadline in the deliverable's zone, as the change recorded it
            moved = r["deliverables"][0] if r["deliverables"] else {"from": old["deadline"], "to": new["deadline"]}
            what = f"{r['target']}: {old['stage']} {moved['from']} -> {new['stage']} {moved['to']}"
        line(f"{r['seq']}. {r['recorded_at']} {r['actor']} ({r['role']}) {r['kind']} {what} — {r['reason']}")


@cli.command()
@click.argument("deliverable_id")
@click.option("--to", "to", required=True, metavar="DATE_OR_INSTANT", help="The new deadline, e.g. 2018-03-15.")
@click.option("--reason", help="Why the deadline moves (required).")
@json_option
@pass_invocation
def extend(invocation: Invocation, deliverable_id: str, to: str, reason: str | None, as_json: bool) -> None:
    """Move one deliverable's deadline (ASEC or the Chair); a lapsed one returns to the stage it
    lapsed from. A DATE is the end of that day in the deliverable's zone.

    Example: ascn --actor officer@asec.example extend 2018/nomination/mm --to 2018-03-15 --reason "asked by MM"
    """
    from .. import calendar_changes

    result = calendar_changes.extend(
        invocation.app, deliverable_id, to, invocation.now(), invocation.acting_actor(), reason=reason
    )
    if as_json:
        emit_json(result)
        return
    stage = f" ({result['from_stage']} -> {result['to_stage']})" if result["from_stage"] != result["to_stage"] else ""
    line(f"{result['deliverable_id']}{stage}: deadline {result['from']} -> {result['to']} (change {result['change']})")
    _render_diff({**result, "deliverables": []})
