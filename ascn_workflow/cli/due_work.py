"""Due work: one pass (`tick`), the long-running scheduler, the outbox."""

from __future__ import annotations

import os

import click

from ..errors import BadInput
from . import Invocation, cli, json_option
from .options import pass_invocation
from .render import emit_json, line, plural, table

# ---------------------------------------------------------------------------- due work


@cli.command()
@json_option
@pass_invocation
def tick(invocation: Invocation, as_json: bool) -> None:
    """One pass of due work: deadline transitions, overdue notices, reminders, the outbox.

    Cron-friendly and safe to run twice at once. Example: ASCN_NOW=2018-02-14T12:00+08:00 ascn tick
    """
    from ..due import run_due_work

    report = run_due_work(invocation.app, invocation.now())
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
        line(f"not sent (deadline already passed): {plural(report.skipped_reminders, 'reminder')}")
    for item in report.retrying:
        line(f"delivery failed, will retry: {item}")
    for item in report.failed:
        line(f"failed for good: {item}")
    if report.deferred:
        line(f"sending budget spent: {plural(report.deferred, 'message')} wait for the next pass")
    line(
        f"delivered {plural(len(report.delivered), 'message')}"
        if report.delivered or not report.idle
        else "nothing due"
    )


@cli.command()
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Seconds between safety passes."
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING"], case_sensitive=False),
    help="The scheduler's own log level (default INFO: one line per pass that did something).",
)
@click.option("-v", "--verbose", count=True, help="Each item of work and APScheduler's per-job lines too (-vv: more).")
@pass_invocation
def scheduler(invocation: Invocation, interval: float, log_level: str | None, verbose: int) -> None:
    """Run due work continuously (APScheduler); stop with Ctrl-C or SIGTERM.

    Logs one line per pass with what it did, counted by kind; -v adds each item and the job runs.
    Example: ascn scheduler --interval 30
    """
    from .. import services
    from ..scheduling import configure_logging, serve

    configure_logging(verbose, log_level)
    app = invocation.app
    services.check_database(app)  # fail now, with one line, if the database is not initialised
    config_path = str(app.config.path.resolve()) if app.config.path else None
    if config_path is None:
        raise BadInput("the scheduler needs a config file (--config or ./config.toml)")
    fixed = None
    if os.environ.get("ASCN_NOW") or app.config.clock is not None:
        fixed = invocation.now().isoformat()  # $ASCN_NOW, else the folder's [clock] now
    serve(config_path, interval, fixed)


@cli.group()
def outbox() -> None:
    """Messages queued, sent and failed."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed"]), help="Only this status.")
@json_option
@pass_invocation
def outbox_list(invocation: Invocation, status: str | None, as_json: bool) -> None:
    """List the outbox. Example: ascn outbox list --status queued"""
    from .. import services

    rows = services.outbox(invocation.app, status)
    if as_json:
        emit_json(rows)
        return
    table(
        plural(len(rows), "message"),
        ["status", "kind", "deliverable", "to", "attempts", "last error"],
        [
            [r["status"], r["kind"], r["deliverable_id"], ", ".join(r["recipients"]), r["attempts"], r["last_error"]]
            for r in rows
        ],
    )
