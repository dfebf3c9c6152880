"""Stopping `ascn scheduler` on SIGTERM while it is in the middle of its own job processing.

A signal handler runs in the main thread between two bytecodes; the BlockingScheduler processes
its jobs in that thread under a re-entrant lock. The handler used to shut down right there, which
emptied the memory job store under the loop updating it: IndexError, and the scheduler exited 1
(seen once in tests/test_portal_processes.py). Here the handler is called by a thread holding that
lock, as the interrupted main thread would be.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from ascn_workflow.scheduling import stopper


def _job() -> None:
    """Never due within the test."""


def test_a_stop_signal_waits_for_the_job_processing_under_way() -> None:
    scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
    scheduler.add_job(_job, "date", run_date=datetime.now(UTC) + timedelta(days=1), id="later")
    running = threading.Thread(target=scheduler.start, daemon=True)
    running.start()
    for _ in range(500):
        if scheduler.running:
            break
        threading.Event().wait(0.01)
    assert scheduler.running
    stop = stopper(scheduler)
    with scheduler._jobstores_lock:  # as the main thread holds it inside _process_jobs
        stop(signal.SIGTERM, None)
        assert [job.id for job in scheduler._jobstores["default"].get_all_jobs()] == ["later"]
        stop(signal.SIGTERM, None)  # a second signal while stopping
    running.join(timeout=30)
    assert not running.is_alive() and not scheduler.running
