"""Benchmarks of ascn_workflow at ASEAN scale, each reported against a baseline measured in the same run.

    python benchmarks/run.py --size S|M|L [--runs N] [--json FILE] [--db-url postgresql+psycopg://…]
                             [--only starts,status,advances,scheduler,due]

Sizes: S is the 2018 network (26 cities, 1 cycle); M 1,000 cities over 8 cycles (about 20,000
deliverables, 200,000 history rows); L 10,000 cities over 8 cycles (about 200,000 deliverables, two
million history rows). Each city has its yearly deliverables and every other city a project; the
finished ones went back and forth 0-18 times on the way (plans sent back, pairings undone). The
synthetic network is written in bulk; everything measured goes through the real CLI or the real
services.

Measures (median of --runs):
- cold start of `ascn --help` and of `ascn show ID`, against a minimal click command (baseline);
- `ascn status --json` and `ascn status --workflow nomination --overdue` at the size;
- in-process advances per second (transition + history row, committed), against a sqlite3 loop
  doing the same UPDATE and INSERT per transition (the limit);
- one due-work pass with 1,000 due reminders (file backend) at S, M and L: its cost should follow
  the due work, not the size of the database;
- peak memory (RSS) of `ascn scheduler` idle at the size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.advances import advance_throughput
from benchmarks.network import NOW, SIZES, build, fresh_database, plant_reminders, row_counts

__all__ = ["NOW", "SIZES", "build", "fresh_database", "machine", "plant_reminders"]  # due_pass.py, portal_load.py

MINIMAL_CLICK = "import click\n@click.command()\ndef main():\n    'A minimal click command.'\nmain()\n"


# ---------------------------------------------------------------------------- measurements


def _median(fn: Any, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def _timed_process(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def cold_starts(config: Path, runs: int, folder: Path) -> dict[str, Any]:
    """Each process timed from start to exit. The package is compiled to bytecode first, as pip does
    when it installs the wheel (a source checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise
    compile every module at every start), and each command runs once untimed to warm the disk cache.

    The three commands take turns, run after run, so that the baseline and each command see the
    same load (this machine is shared; a block of baselines then a block of `show` measured the
    load's drift as much as the code); each figure is the median of its runs. The CPU time of each
    process (user + system, from the kernel) is reported beside the wall time: it moves less with
    the load."""
    import compileall

    import ascn_workflow

    compileall.compile_dir(Path(ascn_workflow.__file__).parent, quiet=1)
    minimal = folder / "minimal_click.py"
    minimal.write_text(MINIMAL_CLICK)
    ascn = [sys.executable, "-m", "ascn_workflow"]
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}
    commands = {
        "baseline_click": [sys.executable, str(minimal), "--help"],
        "ascn_help": [*ascn, "--help"],
        "ascn_show": [*ascn, "show", "2018/framework"],
    }
    for warm in commands.values():
        _timed_process(warm, env)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            used = _children_cpu()
            wall[name].append(_timed_process(args, env))
            cpu[name].append(_children_cpu() - used)
    medians = {f"{name}_s": statistics.median(times) for name, times in wall.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpu.items()}
    return {
        **medians,
        "help_ratio": medians["ascn_help_s"] / medians["baseline_click_s"],
        "show_ratio": medians["ascn_show_s"] / medians["baseline_click_s"],
        "show_cpu_ratio": cpu_medians["ascn_show"] / cpu_medians["baseline_click"],
    }


def _children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def status_times(config: Path, runs: int) -> dict[str, Any]:
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}
    ascn = [sys.executable, "-m", "ascn_workflow"]
    return {
        "status_json_s": _median(lambda: _timed_process([*ascn, "status", "--cycle", "all", "--json"], env), runs),
        "status_nomination_overdue_s": _median(
            lambda: _timed_process([*ascn, "status", "--cycle", "all", "--workflow", "nomination", "--overdue"], env),
            runs,
        ),
    }


def due_pass(config: Path, due: int = 1_000, smtp_port: int | None = None) -> dict[str, Any]:
    """One pass with `due` reminders due (`plant_reminders`), timed in process, against its floor."""
    from ascn_workflow.app import App
    from ascn_workflow.config import load_config
    from ascn_workflow.due import run_due_work

    second = smtp_port is not None  # the SMTP pass follows the file pass: other reminders, the same people
    now = plant_reminders(config, due, offset_days=13 if second else 14, add_people=not second)
    app = App(load_config(config, explicit=True))
    start = time.perf_counter()
    report = run_due_work(app, now)
    elapsed = time.perf_counter() - start
    assert len(report.reminders) == due, (len(report.reminders), due)
    assert len(report.delivered) >= due
    per = -(-due // len({r.split(" -> ")[0] for r in report.reminders}))
    result = {"due_pass_s": elapsed, "due_reminders": due, "recipients_per_deliverable": per}
    if smtp_port is not None:
        result.update(_smtp_floor(app, smtp_port, set(report.delivered)))
    else:
        result.update(_file_floor(app, set(report.delivered), config.parent / "floor"))
    result["due_pass_per_s"] = len(report.delivered) / elapsed
    result["due_pass_over_floor"] = result["due_pass_per_s"] / result["floor_per_s"]
    return result


def _sent(app: Any, delivered: set[str]) -> list[Any]:
    with app.store.read() as tx:
        return [m for m in tx.outbox("sent") if m.message_id in delivered]


def _smtp_floor(app: Any, port: int, delivered: set[str]) -> dict[str, Any]:
    """The physical floor: the same rendered messages sent by a bare smtplib loop over one connection."""
    import smtplib

    messages = _sent(app, delivered)
    sender = app.config.mail.sender
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for m in messages:
            smtp.sendmail(sender, list(m.recipients), m.raw.encode("utf-8"))
    return {"floor_per_s": len(messages) / (time.perf_counter() - start)}


def _file_floor(app: Any, delivered: set[str], folder: Path) -> dict[str, Any]:
    """The physical floor of the file backend: the same bytes written by a bare loop, each as durably
    as the file mailer writes it (a temporary file synced to disk, then renamed into place)."""
    messages = _sent(app, delivered)
    folder.mkdir()
    start = time.perf_counter()
    for i, m in enumerate(messages):
        tmp = folder / f"{i}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(m.raw.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"{i}.eml")
    return {"floor_per_s": len(messages) / (time.perf_counter() - start)}


def due_pass_smtp(config: Path, due: int = 1_000) -> dict[str, Any]:
    """The same pass delivering to a real SMTP server (aiosmtpd on loopback), against a bare loop."""
    from tests.mailserver import MailServer

    server = MailServer()
    server.start()
    try:
        text = config.read_text().replace('backend = "file"', 'backend = "smtp"')
        smtp_config = config.parent / "config-smtp.toml"
        smtp_config.write_text(text + f'host = "127.0.0.1"\nport = {server.port}\n')
        result = due_pass(smtp_config, due, smtp_port=server.port)
    finally:
        server.stop()
    return {f"smtp_{key}": value for key, value in result.items()}


def scheduler_rss(config: Path) -> dict[str, Any]:
    env = {**os.environ, "ASCN_CONFIG": str(config), "ASCN_NOW": NOW.isoformat()}  # nothing much due: idle
    proc = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "scheduler", "--interval", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "scheduler started" in line:
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=3)  # idle passes run meanwhile
    status = Path(f"/proc/{proc.pid}/status").read_text()
    peak_kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return {"scheduler_idle_peak_rss_mb": peak_kb / 1024}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


TARGETS = [
    ("help_ratio", "<=", 2.0, "ascn --help vs minimal click"),
    ("show_ratio", "<=", {"sqlite": 2.0, "postgresql": 3.0}, "ascn show vs minimal click"),
    ("advance_ratio", ">=", 1 / 2, "in-process advances vs sqlite3 limit"),
    ("due_pass_L_over_S", "<=", 1.5, "due-work pass at L vs S"),
    ("smtp_due_pass_over_floor", ">=", 0.5, "due pass vs bare smtplib loop, messages/s"),
    ("status_json_s", "<", 1.0, "status --json at M (s)"),
    ("scheduler_idle_peak_rss_mb", "<", 150.0, "scheduler idle RSS at M (MB)"),
]


PARTS = ("starts", "status", "advances", "scheduler", "due")  # what --only may name


def run(
    size: str, runs: int, server_url: str | None, with_due_baseline: bool = True, only: frozenset[str] = frozenset()
) -> dict[str, Any]:
    with fresh_database(server_url) as db_url:
        return _run(size, runs, db_url, with_due_baseline, only or frozenset(PARTS))


def _run(
    size: str, runs: int, db_url: str | None, with_due_baseline: bool = True, only: frozenset[str] = frozenset(PARTS)
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "size": size,
        "runs": runs,
        "backend": "postgresql" if db_url else "sqlite",
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="ascn-bench-") as tmp:
        folder = Path(tmp)
        built = time.perf_counter()
        config = build(folder / size, size, db_url) if (folder / size).mkdir() is None else None
        results["build_s"] = time.perf_counter() - built
        assert config is not None
        results.update(row_counts(config))
        if "starts" in only:
            results.update(cold_starts(config, runs, folder))
        if "status" in only:
            results.update(status_times(config, runs))
        if db_url is None and "advances" in only:
            results.update(advance_throughput(folder, 200 if size == "S" else 300))
        if "scheduler" in only:
            results.update(scheduler_rss(config))
        if "due" not in only:
            return results
        results.update(due_pass(config))
        results.update(due_pass_smtp(config))
        if size != "S" and with_due_baseline:
            (folder / "S").mkdir()
            small = build(folder / "S", "S", None)
            results["due_pass_S_s"] = due_pass(small)["due_pass_s"]
            results[f"due_pass_{size}_over_S"] = results["due_pass_s"] / results["due_pass_S_s"]
            if size == "L":
                results["due_pass_L_over_S"] = results["due_pass_L_over_S"]
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        f"size {results['size']} ({results['backend']}, median of {results['runs']}), "
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}",
        "",
    ]
    lines.append(
        f"{results.get('cities')} cities, {results.get('deliverables')} deliverables, "
        f"{results.get('history_rows')} history rows"
    )
    lines.append(f"{'measure':<44} {'value':>12}")
    for key, value in results.items():
        if isinstance(value, float):
            lines.append(f"{key:<44} {value:>12.4f}")
    lines.append("")
    for key, op, bounds, label in TARGETS:
        if key in results:
            value = results[key]
            bound = bounds[results["backend"]] if isinstance(bounds, dict) else bounds  # per backend
            ok = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
            lines.append(f"{'MET ' if ok else 'MISS'} {label}: {value:.3f} {op} {bound:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--runs", type=int, default=5, help="repetitions per timing (median)")
    parser.add_argument("--json", type=Path, help="write the figures, ratios and machine description here")
    parser.add_argument("--db-url", help="benchmark on this PostgreSQL server (a fresh database there)")
    parser.add_argument("--only", help=f"measure only these parts, comma-separated (default all): {','.join(PARTS)}")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    only = frozenset(part.strip() for part in (args.only or "").split(",") if part.strip())
    if only - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(only - set(PARTS)))}; parts: {', '.join(PARTS)}")
    results = run(args.size, args.runs, args.db_url, only=only)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if shutil.which(sys.executable) is None:
        sys.exit("no Python")
    main()
