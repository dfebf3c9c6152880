"""The portal's load test runs (size S, a few users, seconds) so it never rots. It asserts what must
hold under load — no errors, no lost or duplicated history — never a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_portal_load_smoke(tmp_path: Path, postgres_admin_url: str) -> None:
    out = tmp_path / "load.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "portal_load.py"),
            "--size",
            "S",
            "--users",
            "6",
            "--seconds",
            "3",
            "--think",
            "0",
            "--db-url",
            postgres_admin_url,
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0, figures["error_samples"]
    assert set(figures["pages"]) >= {"my work", "deliverable"}
    history = figures["history"]
    assert history["acts_seen_by_clients"] == history["web_history_rows"] > 0
    assert history["lost"] == history["duplicated_or_unexplained"] == history["audit_problems"] == 0
