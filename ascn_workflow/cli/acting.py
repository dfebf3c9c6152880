"""Acting on deliverables: advance a trigger, record a nomination."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import Invocation, cli, json_option
from .options import at_option_value, complete_deliverable, complete_trigger, data_pairs, pass_invocation, waivers
from .render import emit_json, line, plural

# ---------------------------------------------------------------------------- acting


@cli.command()
@click.argument("deliverable_id", shell_complete=complete_deliverable)
@click.argument("trigger", shell_complete=complete_trigger)
@click.option("--note", help="Why; required by some triggers (e.g. return_for_correction).")
@click.option(
    "--data", "data", multiple=True, metavar="KEY=VALUE", help="A field of the transition, e.g. partner=Japan."
)
@click.option(
    "--at", "at", metavar="INSTANT", help="When it really happened (ISO 8601 with offset); not in the future."
)
@click.option("--waive", multiple=True, metavar="RULE", help="Waive a named rule (Chair or shepherd only).")
@click.option("--reason", help="Why the rule is waived (required with --waive).")
@click.option(
    "--on-behalf-of",
    "on_behalf_of",
    metavar="EMAIL",
    help="ASEC only: record this person's act (a letter arrived); history shows both.",
)
@json_option
@pass_invocation
def advance(
    invocation: Invocation,
    deliverable_id: str,
    trigger: str,
    note: str | None,
    data: tuple[str, ...],
    at: str | None,
    waive: tuple[str, ...],
    reason: str | None,
    on_behalf_of: str | None,
    as_json: bool,
) -> None:
    """Fire TRIGGER on a deliverable, recording who, when and why.

    Example: ascn --actor shepherd@mnd-sg.example.org advance 2018/framework circulate --at 2018-03-20T10:00+08:00
    """
    from .. import services
    from ..identity import acting

    who = acting(invocation.app, invocation.actor, on_behalf_of)
    result = services.advance(
        invocation.app,
        deliverable_id,
        trigger,
        invocation.now(),
        who.actor,
        at=at_option_value(at),
        note=note,
        data=data_pairs(data),
        waivers=waivers(waive, reason),
        recorded_by=who.recorded_by,
    )
    _render_advance(result, as_json)


def _render_advance(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    event = result["event"]
    line(
        f"{result['id']}: {event['from_stage']} -> {event['to_stage']} ({event['trigger']} by {event['actor']} "
        f"as {event['role']}, at {event['effective_at']})"
    )
    for rule, why in event["waivers"].items():
        line(f"  waived {rule}: {why}")
    if result["opened"]:
        line(f"  opened {plural(len(result['opened']), 'deliverable')}: {', '.join(result['opened'])}")


@cli.command()
@click.argument("member_state")
@click.option("--file", "file", required=True, type=click.Path(path_type=Path), help="The nomination TOML file.")
@click.option("--at", "at", metavar="INSTANT", help="When it was really submitted (ISO 8601 with offset).")
@click.option("--waive", multiple=True, metavar="RULE", help="Waive a named rule (Chair or shepherd only).")
@click.option("--reason", help="Why the rule is waived (required with --waive).")
@click.option("--cycle", type=int, help="A later cycle's nomination of further cities (default: [calendar] cycle).")
@click.option(
    "--on-behalf-of",
    "on_behalf_of",
    metavar="EMAIL",
    help="ASEC only: record this person's act (a letter arrived); history shows both.",
)
@json_option
@pass_invocation
def nominate(
    invocation: Invocation,
    member_state: str,
    file: Path,
    at: str | None,
    waive: tuple[str, ...],
    reason: str | None,
    cycle: int | None,
    on_behalf_of: str | None,
    as_json: bool,
) -> None:
    """Record a member state's nomination (cities, CSCOs, NR) and submit it.

    In a later cycle it nominates further cities (expansion); the rules count the cities that are
    members already. Example: ascn --actor nr@th.example.org nominate TH --file nominations/th.toml
    """
    from .. import services
    from ..identity import acting

    who = acting(invocation.app, invocation.actor, on_behalf_of)
    result = services.nominate(
        invocation.app,
        member_state,
        file,
        invocation.now(),
        who.actor,
        at=at_option_value(at),
        waivers=waivers(waive, reason),
        cycle=cycle,
        recorded_by=who.recorded_by,
    )
    _render_advance(result, as_json)
