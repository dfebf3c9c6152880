"""`ascn`: thin click commands over `ascn_workflow.services`.

Each command parses its arguments, calls one service function and renders the result. Heavy
modules (sqlmodel, rich, transitions) are imported inside the commands, so `ascn --help` is quick.
Errors are mapped to exit codes in exactly one place: `AscnGroup.invoke`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import AscnError

if TYPE_CHECKING:
    from ..app import App


@dataclass
class State:
    config_path: Path | None
    config_explicit: bool
    actor: str | None
    json_errors: bool = False
    _app: App | None = field(default=None, repr=False)

    @property
    def app(self) -> App:
        if self._app is None:
            from ..app import App
            from ..config import load_config

            self._app = App(load_config(self.config_path, self.config_explicit))
        return self._app

    def now(self) -> datetime:
        """`$ASCN_NOW` for simulations and tests, else the wall clock: the only place it is read."""
        from ..dates import parse_instant

        text = os.environ.get("ASCN_NOW")
        if text:
            return parse_instant(text, "ASCN_NOW")
        return datetime.now(UTC)


def report_error(error: AscnError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(error.as_dict(), ensure_ascii=False, default=str), err=True)
    else:
        click.echo(f"ascn: {error.message}", err=True)


def report_usage(error: click.UsageError) -> None:
    """Click prints usage errors over four lines; the contract is one line and exit 2."""
    where = error.ctx.command_path if error.ctx else "ascn"
    click.echo(f"ascn: {error.format_message()} (see '{where} --help')", err=True)


class AscnGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            report_usage(error)
            ctx.exit(2)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            report_usage(error)
            ctx.exit(2)
        except AscnError as error:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            report_error(error, bool(state and state.json_errors))
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as error:  # a bug: one line, not a traceback, unless asked for
            if os.environ.get("ASCN_DEBUG"):
                raise
            click.echo(
                f"ascn: internal error: {type(error).__name__}: {error} (set ASCN_DEBUG=1 for details)", err=True
            )
            ctx.exit(1)


def json_option(fn: Any) -> Any:
    def mark(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value and isinstance(ctx.obj, State):
            ctx.obj.json_errors = True
        return value

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=mark,
        expose_value=True,
        is_eager=True,
        help="Print machine-readable JSON.",
    )(fn)


@click.group(cls=AscnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="ASCN_CONFIG",
    help="Config file (default: $ASCN_CONFIG, else ./config.toml).",
)
@click.option("--actor", envvar="ASCN_ACTOR", help="E-mail of the person acting (default: $ASCN_ACTOR).")
@click.version_option(package_name="ascn-workflow", prog_name="ascn")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, actor: str | None) -> None:
    """Track the ASEAN Smart Cities Network's governance calendar: deliverables as state machines.

    Set $ASCN_NOW (an ISO 8601 instant with offset) to run any command as if it were that moment.
    """
    explicit = config_path is not None
    ctx.obj = State(config_path or Path("config.toml"), explicit, actor)


from . import acting, admin, due_work, reading, simulating  # noqa: E402,F401  (register the commands on `cli`)


def main() -> None:
    cli(prog_name="ascn")
