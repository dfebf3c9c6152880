"""One due pass of many reminders at a given size, as the scheduler runs it, against its floor.

    python benchmarks/due_pass.py --size L --due 100000 [--db-url postgresql+psycopg://…]
        [--mail smtp|file] [--profile 10000] [--keep-profile FILE] [--json FILE]

Builds the network of the size (`benchmarks/run.py`'s builder), plants `--due` reminders due at
one instant on the last cycle's city deliverables (each its own message: 10 recipients per
deliverable at L), and runs `ascn tick` in its own process against a real SMTP server
(aiosmtpd, in its own process, discarding what it receives). Reported:

- the pass: wall time, messages per second, the tick process's peak RSS and CPU per message (its
  own, without the database server's: on a shared machine a steadier figure than the wall time);
- the floor, measured in the same run against the same server: a bare `smtplib` loop sending
  the same rendered messages over one connection (timed per `sendmail`, the first
  `--floor-sample` of them), and the ratio of the two rates;
- with `--mail file` the pass writes to the file backend's outbox folder instead, and the floor
  is a bare loop writing the same bytes to files as durably as the backend does (a temporary
  file, fsync, rename into place), in a folder beside it; a second floor writes them with the
  pass's `due.WRITERS` threads, 50 at a time, as the pass does (`floor_threads_per_s`);
- with `--profile N`: a second pass of N further reminders under cProfile, and how each message's
  cost splits between rendering, claiming and queueing, sending, committing, and the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import SIZES, build, fresh_database, machine, plant_reminders  # noqa: E402
from tests.mailserver import free_port  # noqa: E402


@contextlib.contextmanager
def sink_server() -> Iterator[int]:
    """aiosmtpd in its own process with the Sink handler: it takes every message and keeps none."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        give_up = time.monotonic() + 30
        while True:  # polling a real server's port until it answers
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    smtp.noop()
                break
            except OSError:
                if time.monotonic() > give_up or proc.poll() is not None:
                    raise RuntimeError("the SMTP sink did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def smtp_config(config: Path, port: int) -> Path:
    text = config.read_text().replace('backend = "file"', 'backend = "smtp"')
    text = text.replace("[mail]\n", "[mail]\npass_budget_seconds = 86400\n")
    path = config.parent / "config-smtp.toml"
    path.write_text(text + f'host = "127.0.0.1"\nport = {port}\n')
    return path


def budget_config(config: Path) -> Path:
    """The file backend as built, with the pass's sending budget raised as for SMTP."""
    path = config.parent / "config-file.toml"
    path.write_text(config.read_text().replace("[mail]\n", "[mail]\npass_budget_seconds = 86400\n"))
    return path


def tick(config: Path, now: Any, profile: Path | None = None) -> dict[str, Any]:
    """`ascn tick` as the scheduler runs it, in its own process: wall time and peak RSS."""
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": now.isoformat()}
    profiling = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    command = [sys.executable, *profiling, "-m", "ascn_workflow", "tick", "--json"]
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"ascn tick failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return {
        "seconds": elapsed,
        "cpu_seconds": _children_cpu() - cpu,
        "report": json.loads(proc.stdout),
        "peak_rss_mb": _children_peak_mb(),
    }


def _children_cpu() -> float:
    """User and system CPU seconds of the waited-for children so far (the tick's own, not its
    database server's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_peak_mb() -> float:
    """The largest peak RSS of any waited-for child so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def smtp_floor(config: Path, port: int, sample: int) -> dict[str, Any]:
    """The same rendered messages, sent by a bare smtplib loop over one connection to the same server."""
    from ascn_workflow.app import App
    from ascn_workflow.config import load_config

    app = App(load_config(config, explicit=True))
    sender = app.config.mail.sender
    sent, spent, after = 0, 0.0, 0
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        while sent < sample:
            with app.store.read() as tx:
                page = tx.rows(
                    "SELECT id, recipients, raw FROM outbox WHERE status = 'sent' AND id > ? ORDER BY id LIMIT 500",
                    (after,),
                )
            if not page:
                break
            for _id, recipients, text in page[: sample - sent]:
                to = recipients if isinstance(recipients, list) else json.loads(recipients)
                raw = text.encode("utf-8")
                start = time.perf_counter()
                smtp.sendmail(sender, to, raw)
                spent += time.perf_counter() - start
                sent += 1
            after = page[-1][0]
    return {"floor_messages": sent, "floor_per_s": sent / spent}


def file_floor(config: Path, sample: int) -> dict[str, Any]:
    """The same rendered messages, written by a bare loop as durably as the file backend writes
    them (a temporary file synced to disk, then renamed into place), beside its outbox; then
    again by `due.WRITERS` threads, 50 messages at a time, as the pass writes them."""
    from concurrent.futures import ThreadPoolExecutor

    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.due import BATCH, WRITERS

    app = App(load_config(config, explicit=True))
    raws: list[tuple[int, bytes]] = []
    after = 0
    while len(raws) < sample:
        with app.store.read() as tx:
            page = tx.rows(
                "SELECT id, raw FROM outbox WHERE status = 'sent' AND id > ? ORDER BY id LIMIT 500", (after,)
            )
        if not page:
            break
        raws += [(id_, text.encode("utf-8")) for id_, text in page[: sample - len(raws)]]
        after = page[-1][0]

    def write(folder: Path, id_: int, raw: bytes) -> None:
        tmp = folder / f"{id_}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{id_}.eml")

    loop, threads = app.config.mail.outbox.parent / "floor", app.config.mail.outbox.parent / "floor-threads"
    loop.mkdir()
    threads.mkdir()
    start = time.perf_counter()
    for id_, raw in raws:
        write(loop, id_, raw)
    spent = time.perf_counter() - start
    with ThreadPoolExecutor(WRITERS) as pool:
        start = time.perf_counter()
        for first in range(0, len(raws), BATCH):
            list(pool.map(lambda m: write(threads, *m), raws[first : first + BATCH]))
        spent_threads = time.perf_counter() - start
    return {
        "floor_messages": len(raws),
        "floor_per_s": len(raws) / spent,
        "floor_threads_per_s": len(raws) / spent_threads,
    }


def split(profile: Path, messages: int) -> dict[str, float]:
    """Milliseconds per message by kind of work, from the cumulative times of the functions doing it
    (none of them calls another of them)."""
    stats: dict[Any, Any] = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]

    def cumulative(*wanted: tuple[str, str]) -> float:
        return float(
            sum(
                v[3]
                for (file, _line, name), v in stats.items()
                if any(file.endswith(f) and name == n for f, n in wanted)
            )
        )

    total = cumulative(("due.py", "run_due_work"))
    parts = {
        "render": cumulative(("mail/render.py", "reminder_message"), ("mail/render.py", "overdue_message")),
        "recipients": cumulative(
            ("reminding.py", "people_for"), ("reminding.py", "recipients_among"), ("tx_work.py", "deliverables_by_id")
        ),
        "claim and queue": cumulative(
            *(
                ("tx_mail.py", name)
                for name in (
                    "claim_reminders",
                    "claim_reminder_groups",
                    "queue_message",
                    "queue_messages",
                    "claim_message",
                    "record_and_claim",
                    "due_reminders",
                    "messages_to_send",
                )
            )
        ),
        "send": cumulative(("due.py", "_attempt")),
        "commit": cumulative(
            ("~", "<method 'commit' of 'sqlite3.Connection' objects>"), ("psycopg/connection.py", "commit")
        ),
    }
    parts["other"] = total - sum(parts.values())
    result = {f"{k.replace(' ', '_')}_ms_per_message": v * 1000 / messages for k, v in parts.items()}
    result["profiled_ms_per_message"] = total * 1000 / messages
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--due", type=int, default=1_000, help="reminders due in the timed pass")
    parser.add_argument("--profile", type=int, default=0, help="reminders in a second, profiled pass (0: none)")
    parser.add_argument("--floor-sample", type=int, default=20_000, help="messages the floor loop sends")
    parser.add_argument("--db-url", help="benchmark on this PostgreSQL server (a fresh database there)")
    parser.add_argument("--mail", choices=("smtp", "file"), default="smtp", help="the mail backend of the pass")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep-profile", type=Path, help="keep the profiled pass's cProfile data here")
    args = parser.parse_args()
    results: dict[str, Any] = {"size": args.size, "due": args.due, "mail": args.mail, "machine": machine()}
    with fresh_database(args.db_url) as db_url, tempfile.TemporaryDirectory(prefix="ascn-due-") as tmp:
        results["backend"] = "postgresql" if db_url else "sqlite"
        folder = Path(tmp) / args.size
        folder.mkdir()
        started = time.perf_counter()
        config = build(folder, args.size, db_url)
        results["build_s"] = time.perf_counter() - started
        with sink_server() if args.mail == "smtp" else contextlib.nullcontext(0) as port:
            config = smtp_config(config, port) if args.mail == "smtp" else budget_config(config)
            now = plant_reminders(config, args.due, offset_days=14)
            run = tick(config, now)
            delivered = len(run["report"]["delivered"])
            assert delivered == args.due and not run["report"]["failed"], (delivered, run["report"]["failed"][:3])
            results.update(
                pass_s=run["seconds"],
                pass_per_s=delivered / run["seconds"],
                pass_peak_rss_mb=run["peak_rss_mb"],
                pass_cpu_ms_per_message=run["cpu_seconds"] * 1000 / delivered,
            )
            if args.mail == "smtp":
                results.update(smtp_floor(config, port, args.floor_sample))
            else:
                results.update(file_floor(config, args.floor_sample))
            results["pass_over_floor"] = results["pass_per_s"] / results["floor_per_s"]
            if "floor_threads_per_s" in results:
                results["pass_over_floor_threads"] = results["pass_per_s"] / results["floor_threads_per_s"]
            if args.profile:
                later = plant_reminders(config, args.profile, offset_days=13, add_people=False)
                out = folder / "due.prof"
                profiled = tick(config, later, profile=out)
                assert len(profiled["report"]["delivered"]) == args.profile
                results.update(split(out, args.profile))
                if args.keep_profile:
                    args.keep_profile.write_bytes(out.read_bytes())
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
