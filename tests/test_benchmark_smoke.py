"""The benchmark runs (size S, one run) so it never rots. It asserts shape, never a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--size", "S", "--runs", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    for key in (
        "baseline_click_s",
        "help_ratio",
        "show_ratio",
        "status_json_s",
        "advances_per_s",
        "sqlite3_limit_per_s",
        "advance_ratio",
        "sqlite3_guarded_per_s",
        "advance_guarded_ratio",
        "due_pass_s",
        "scheduler_idle_peak_rss_mb",
        "due_pass_over_floor",
        "smtp_due_pass_over_floor",
    ):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["due_reminders"] == 1000 and figures["machine"]["cpus"]
    assert "ascn show vs minimal click" in result.stdout


@pytest.mark.slow
def test_due_pass_benchmark_smoke(tmp_path: Path) -> None:
    """`benchmarks/due_pass.py` at S: a real `ascn tick` to an SMTP sink, its floor and the profile split."""
    out = tmp_path / "due.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "due_pass.py"),
            *("--size", "S", "--due", "60", "--profile", "30", "--floor-sample", "60"),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    for key in ("pass_per_s", "pass_peak_rss_mb", "floor_per_s", "pass_over_floor", "render_ms_per_message"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["due"] == 60 and figures["floor_messages"] >= 60
    parts = [k for k in figures if k.endswith("_ms_per_message") and k != "profiled_ms_per_message"]
    assert {"render", "send", "commit", "claim_and_queue"} <= {k.removesuffix("_ms_per_message") for k in parts}
