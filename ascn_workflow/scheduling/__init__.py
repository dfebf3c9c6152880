"""`ascn scheduler`: APScheduler 3.x running due-work passes on time.

The database is the source of truth; APScheduler only decides *when* to look. Two jobs, both by
text reference with primitive arguments and fixed ids, rebuilt at every start:

- `safety-pass`: every `interval_seconds`, coalesced, never dropped as a misfire;
- `next-due`: a one-off at the next due instant found in the database (a reminder, a deadline,
  a retry), re-planned after every pass.

A pass at start catches up on everything missed while the process was down.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("ascn.scheduler")

_apps: dict[str, Any] = {}
_lock = threading.Lock()


def _app(config_path: str) -> Any:
    from ..app import App
    from ..config import load_config

    if config_path not in _apps:
        _apps[config_path] = App(load_config(Path(config_path), explicit=True))
    return _apps[config_path]


def run_pass(config_path: str, fixed_now: str | None = None) -> None:
    """One due-work pass (an APScheduler job: referenced by text, primitive arguments)."""
    from ..dates import parse_instant
    from ..due import run_due_work, trigger_stages

    app = _app(config_path)
    now = parse_instant(fixed_now) if fixed_now else datetime.now(UTC)
    with _lock:
        try:
            app.follow_calendar()  # `calendar set` in another process may have moved a milestone
            report = run_due_work(app, now)
        except Exception as error:  # a failing pass must not kill the scheduler; the next pass retries
            _failed(error)
            return
        if _outage["failing"]:
            log.warning("due-work pass succeeded again after %s failed passes", _outage["failing"])
            _outage["failing"] = 0
        if report.idle:
            log.debug("pass at %s: nothing due", now.isoformat(timespec="seconds"))
        else:
            log.info("pass at %s: %s", now.isoformat(timespec="seconds"), describe(report))
        with app.store.read() as tx:
            next_due = tx.next_due(trigger_stages(app))
    if fixed_now is None and _scheduler is not None and next_due is not None:
        _plan_next(next_due if next_due > now else now + timedelta(seconds=1), config_path)


_scheduler: Any = None
_outage = {"failing": 0}


def _failed(error: Exception) -> None:
    """One line per failed pass (a database outage would otherwise log a long traceback each
    time); the traceback only at DEBUG. The next successful pass says the scheduler recovered."""
    from ..outages import database_failure

    failure = database_failure(error)
    reason = failure.message if failure is not None else f"{type(error).__name__}: {error}"
    _outage["failing"] += 1
    log.error("due-work pass failed (%s in a row): %s", _outage["failing"], reason.splitlines()[0] if reason else "")
    log.debug("the failed pass's traceback", exc_info=error)


KINDS = (
    ("lapsed", "deadline passed", "deadlines passed"),
    ("overdue_notices", "overdue notice", "overdue notices"),
    ("reminders", "reminder", "reminders"),
    ("skipped_reminders", "reminder not sent (deadline past)", "reminders not sent (deadline past)"),
    ("delivered", "message delivered", "messages delivered"),
    ("retrying", "delivery to retry", "deliveries to retry"),
    ("failed", "delivery failed", "deliveries failed"),
    (
        "deferred",
        "message left for the next pass (sending budget spent)",
        "messages left for the next pass (sending budget spent)",
    ),
)


def describe(report: Any) -> str:
    """One readable line for a pass: the count of each kind of work done, the kinds with none left out."""
    counts = report.as_dict()
    parts = []
    for key, one, many in KINDS:
        value = counts[key]
        n = len(value) if isinstance(value, list) else int(value)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def configure_logging(verbose: int, level: str | None = None) -> None:
    """INFO: the scheduler's own lines, one per pass. `-v`: also each item of work and APScheduler's
    per-job lines (DEBUG); `-vv` as well as the libraries' debug output."""
    import logging

    chosen = level or ("DEBUG" if verbose else "INFO")
    logging.basicConfig(level=chosen, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler's WARNINGs here are by design (a safety pass skipped while one runs: max_instances=1).
    libraries = "DEBUG" if verbose >= 2 else ("INFO" if verbose else "ERROR")
    logging.getLogger("apscheduler").setLevel(libraries)


def _plan_next(when: datetime, config_path: str) -> None:
    _scheduler.add_job(
        "ascn_workflow.scheduling:run_pass",
        "date",
        run_date=when,
        args=[config_path],
        id="next-due",
        replace_existing=True,
        misfire_grace_time=None,
        coalesce=True,
    )


def stopper(scheduler: Any) -> Callable[[int, Any], None]:
    """The SIGTERM and SIGINT handler for a running scheduler.

    A handler runs in the main thread between two of its bytecodes, and the main thread is where a
    BlockingScheduler processes its jobs, under a re-entrant lock: shutting down right there
    re-entered that lock and emptied the job store under the loop that was updating it
    (IndexError in the memory job store; the scheduler exited 1 on SIGTERM). So the handler only
    starts the shutdown in a thread of its own, which waits for the lock like any other caller.
    A second signal while stopping is a no-op."""

    def shutdown() -> None:
        from apscheduler.schedulers import SchedulerNotRunningError

        with suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=shutdown, name="ascn-stop", daemon=True).start()

    return stop


def serve(config_path: str, interval_seconds: float, fixed_now: str | None = None) -> None:
    """Run until SIGINT or SIGTERM; each stops the process cleanly after the pass under way."""
    global _scheduler
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
    _scheduler = scheduler
    scheduler.add_job(
        "ascn_workflow.scheduling:run_pass",
        "interval",
        seconds=interval_seconds,
        args=[config_path, fixed_now],
        id="safety-pass",
        next_run_time=datetime.now(UTC),
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        replace_existing=True,
    )

    stop = stopper(scheduler)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "scheduler started (pass every %ss)%s", interval_seconds, f", clock fixed at {fixed_now}" if fixed_now else ""
    )
    scheduler.start()
    with _lock:  # let a pass under way finish its transaction
        log.info("scheduler stopped")
    _scheduler = None
