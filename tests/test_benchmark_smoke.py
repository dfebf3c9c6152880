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
        "due_pass_s",
        "scheduler_idle_peak_rss_mb",
        "due_pass_over_floor",
        "smtp_due_pass_over_floor",
    ):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["due_reminders"] == 1000 and figures["machine"]["cpus"]
    assert "ascn show vs minimal click" in result.stdout
