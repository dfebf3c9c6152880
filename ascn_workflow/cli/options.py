"""Option parsing shared by the command modules: cycles, KEY=VALUE data, waivers, instants."""

from __future__ import annotations

from typing import Any

import click

from ..errors import BadInput
from . import Invocation

pass_invocation = click.make_pass_decorator(Invocation)


def cycle_choice(invocation: Invocation, text: str | None) -> int | None:
    """`--cycle 2019` -> 2019; `--cycle all` -> None (every cycle); nothing -> the config's cycle."""
    if text is None:
        return invocation.app.config.cycle
    if text.strip().lower() == "all":
        return None
    if not (text.strip().isascii() and text.strip().isdigit()):  # not "²", which isdigit() accepts
        raise BadInput(f"--cycle {text!r} is not a year or 'all'")
    return int(text)


def data_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    from ..names import check_data

    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--data {pair!r} is not KEY=VALUE")
        data[key.strip()] = value
    return check_data(data)


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


# ---------------------------------------------------------------------------- shell completion
# Click calls these while the shell completes a word (`_ASCN_COMPLETE`, README "Shell completion").
# The group's callback has not run then, so the config comes from the parsed --config or
# $ASCN_CONFIG. A completion never fails: anything wrong (no database yet) completes nothing.


def _completion_app(ctx: click.Context) -> Any:
    import os
    from pathlib import Path

    from ..app import App
    from ..config import load_config

    given = ctx.find_root().params.get("config_path") or os.environ.get("ASCN_CONFIG")
    return App(load_config(Path(given) if given else Path("config.toml"), explicit=bool(given)))


def _items(names: list[str], incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def complete_deliverable(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    try:
        with _completion_app(ctx).store.read() as tx:
            ids = sorted(r.id for r in tx.deliverables())
    except Exception:
        return []
    return _items(ids, incomplete)


def complete_trigger(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """The triggers a person may fire from the deliverable's current stage (the ID typed before)."""
    deliverable_id = ctx.params.get("deliverable_id")
    if not deliverable_id:
        return []
    try:
        app = _completion_app(ctx)
        with app.store.read() as tx:
            row = tx.deliverable(deliverable_id)
        workflow = app.definitions.workflow(row.workflow)
        moves = workflow.transitions_from(row.stage)
        triggers = list(dict.fromkeys(t.trigger for t in moves if set(t.roles) != {"scheduler"}))
    except Exception:
        return []
    return _items(triggers, incomplete)


def complete_workflow(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    try:
        names = sorted(_completion_app(ctx).definitions.workflows)
    except Exception:
        return []
    return _items(names, incomplete)
