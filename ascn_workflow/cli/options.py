"""Option parsing shared by the command modules: cycles, KEY=VALUE data, waivers, instants."""

from __future__ import annotations

from typing import Any

import click

from ..errors import BadInput
from . import State

pass_state = click.make_pass_decorator(State)


def cycle_choice(state: State, text: str | None) -> int | None:
    """`--cycle 2019` -> 2019; `--cycle all` -> None (every cycle); nothing -> the config's cycle."""
    if text is None:
        return state.app.config.cycle
    if text.strip().lower() == "all":
        return None
    if not text.strip().isdigit():
        raise BadInput(f"--cycle {text!r} is not a year or 'all'")
    return int(text)


# Fields that hold structured data only commands build: a text from --data would not be one.
STRUCTURED = {
    "cities": "a nomination's cities come from its file: use `ascn nominate XX --file FILE`",
    "national_representative": "a nomination's NR comes from its file: use `ascn nominate XX --file FILE`",
    "member_state": "the member state is the deliverable's own",
    "projects": "a progress review records the city's projects itself",
}


def data_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--data {pair!r} is not KEY=VALUE")
        if key.strip() in STRUCTURED:
            raise BadInput(f"--data {key.strip()}: {STRUCTURED[key.strip()]}")
        data[key.strip()] = value
    return data


def waivers(waive: tuple[str, ...], reason: str | None) -> dict[str, str]:
    if waive and not (reason and reason.strip()):
        raise BadInput("--waive needs --reason TEXT saying why the rule is waived")
    if reason and not waive:
        raise BadInput("--reason goes with --waive RULE")
    return {rule: reason.strip() for rule in waive} if reason else {}


def at_option_value(text: str | None) -> Any:
    """The instant as typed, offset kept (refusals quote it back that way); the engine stores UTC."""
    from datetime import datetime

    from ..dates import parse_instant

    if not text:
        return None
    parse_instant(text, "--at")  # refuses what is not an instant with an offset
    return datetime.fromisoformat(text.strip())
