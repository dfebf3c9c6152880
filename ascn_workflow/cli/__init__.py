"""`ascn`: thin click commands over `ascn_workflow.services`.

Each command parses its arguments, calls one service function and renders the result. Heavy
modules (sqlmodel, rich, transitions) are imported inside the commands, so `ascn --help` is quick.
Errors are mapped to exit codes in exactly one place: `AscnGroup.invoke`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import AscnError, BadInput

if TYPE_CHECKING:
    from ..app import App


class Invocation:
    """One run of `ascn`: the config it reads, who it says acts, and the app built on first use
    (click's `ctx.obj`). Not a stage, not a member state: the one word 'state' is never this.
    A plain class: every command creates one, and a dataclass costs ~0.4 ms to declare at start."""

    __slots__ = ("_app", "actor", "config_explicit", "config_path", "json_errors")

    def __init__(
        self, config_path: Path | None, config_explicit: bool, actor: str | None, json_errors: bool = False
    ) -> None:
        self.config_path = config_path
        self.config_explicit = config_explicit
        self.actor = actor
        self.json_errors = json_errors
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            from ..app import App
            from ..config import load_config

            self._app = App(load_config(self.config_path, self.config_explicit))
        return self._app

    def acting_actor(self, *, bootstrap: bool = False) -> str | None:
        """Who changes something: `--actor` as declared, or the proven person under a proving
        `[auth] cli` mode (identity.acting), so no command takes a declared actor on trust."""
        from .. import identity

        return identity.acting(self.app, self.actor, bootstrap=bootstrap).actor

    def now(self) -> datetime:
        """`$ASCN_NOW`, else the config's `[clock] now` (a simulation's folder), else the wall clock:
        the only place the clock is read."""
        from ..dates import parse_instant

        text = os.environ.get("ASCN_NOW")
        if text:
            return parse_instant(text, "ASCN_NOW")
        clock = self.app.config.clock
        if clock is not None:
            return clock
        return datetime.now(UTC)


def colour(stream_is_error: bool = False) -> bool:
    """Colour only on a terminal, and never under NO_COLOR (https://no-color.org)."""
    import sys

    stream = sys.stderr if stream_is_error else sys.stdout
    return not os.environ.get("NO_COLOR") and stream.isatty()


def report_error(error: AscnError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(error.as_dict(), ensure_ascii=False, default=str), err=True)
    else:
        text = f"ascn: {error.message}"
        click.echo(click.style(text, fg="red") if colour(stream_is_error=True) else text, err=True)


def report_usage(error: click.UsageError) -> None:
    """Click prints usage errors over four lines; the contract is one line and exit 2."""
    where = error.ctx.command_path if error.ctx else "ascn"
    click.echo(f"ascn: {error.format_message()} (see '{where} --help')", err=True)


PIPE_CLOSED = 141  # 128 + SIGPIPE: what `cat`, `git log` and `yes` end with when the reader goes away


def stdout_closed() -> None:
    """The reader of our output went away (`ascn status | head -1`): a normal end, said by exit 141
    as other Unix tools do, with nothing on stderr; later writes go to /dev/null, so the
    interpreter's own flush at exit cannot complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (click's test runner): nothing to silence
        pass


def _not_utf8(args: list[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python keeps such bytes as lone surrogates)."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return arg.encode("utf-8", "backslashreplace").decode("ascii", "replace")
    return None


# The module(s) declaring each command: `ascn show` imports reading.py alone, and the list of
# commands (help, completion) imports them all. tests/test_cli.py holds this to what they declare.
COMMANDS: dict[str, tuple[str, ...]] = {
    "advance": ("acting",),
    "audit": ("admin",),
    "calendar": ("reading", "calendar_changes"),
    "cycle": ("admin",),
    "db": ("admin",),
    "diagram": ("reading",),
    "document": ("documents",),
    "export": ("admin",),
    "extend": ("calendar_changes",),
    "framework": ("reading",),
    "history": ("reading",),
    "import": ("admin",),
    "init": ("admin",),
    "nominate": ("acting",),
    "outbox": ("due_work",),
    "people": ("admin",),
    "project": ("admin",),
    "report": ("reading",),
    "scheduler": ("due_work",),
    "serve": ("serving",),
    "show": ("reading",),
    "simulate": ("simulating",),
    "status": ("reading",),
    "tick": ("due_work",),
    "workflows": ("admin",),
}

MODULES = tuple(sorted({module for modules in COMMANDS.values() for module in modules}))


def _declare(modules: Iterable[str]) -> None:
    from importlib import import_module

    for module in modules:
        import_module(f"{__name__}.{module}")  # registers its commands on `cli`


class AscnGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self is cli:  # each module the command needs (`calendar`: two), or all for click's "Did you mean"
            _declare(COMMANDS.get(cmd_name) or (() if cmd_name in self.commands else MODULES))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        if self is cli:
            _declare(MODULES)
        return super().list_commands(ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and ctx.parent is None and not ctx.resilient_parsing:  # `ascn` alone: the help, on stdout
            click.echo(ctx.get_help())
            ctx.exit(0)
        bad = _not_utf8(args)
        if bad is not None:
            report_error(BadInput(f"argument {bad} is not valid UTF-8 text"), "--json" in args)
            ctx.exit(2)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            report_usage(error)
            ctx.exit(2)
        except BrokenPipeError:  # --help into a closed pipe
            stdout_closed()
            ctx.exit(PIPE_CLOSED)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            report_usage(error)
            ctx.exit(2)
        except AscnError as error:
            invocation = ctx.obj if isinstance(ctx.obj, Invocation) else None
            report_error(error, bool(invocation and invocation.json_errors))
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            stdout_closed()
            ctx.exit(PIPE_CLOSED)
        except Exception as error:  # a database failure is one line; anything else is a bug
            from ..outages import database_failure

            failure = database_failure(error)
            if failure is not None and not os.environ.get("ASCN_DEBUG"):
                invocation = ctx.obj if isinstance(ctx.obj, Invocation) else None
                report_error(failure, bool(invocation and invocation.json_errors))
                ctx.exit(failure.exit_code)
            if os.environ.get("ASCN_DEBUG"):
                raise
            click.echo(
                f"ascn: internal error: {type(error).__name__}: {error} (set ASCN_DEBUG=1 for details)", err=True
            )
            ctx.exit(1)


def json_option(fn: Any) -> Any:
    def mark(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value and isinstance(ctx.obj, Invocation):
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
    ctx.obj = Invocation(config_path or Path("config.toml"), explicit, actor)


def main() -> None:
    try:
        cli(prog_name="ascn")
    finally:  # output still buffered when the reader has gone: flush it here, not in the interpreter's exit
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            stdout_closed()
            raise SystemExit(PIPE_CLOSED) from None
