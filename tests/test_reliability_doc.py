"""docs/reliability.md stays true: every test it names exists, every item of issue 16 (and 13: multi-process use) has a row,
and every test of the hardening test files is named in the table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
NAMED = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`")
HARDENING = [
    "tests/test_boundaries.py",
    "tests/test_isolation.py",
    "tests/test_races.py",
    "tests/test_import_checks.py",
    "tests/test_directory_and_audit.py",
    "tests/test_slugs_and_cycles.py",
    "tests/test_mail_limits.py",
    "tests/test_failures.py",
    "tests/test_postgres_outages.py",
    "tests/test_portal_processes.py",
]


def _tests(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def _rows() -> list[list[str]]:
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines() if re.match(r"\| \d+ \|", line)]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_every_test_the_table_names_exists() -> None:
    named = NAMED.findall(DOC.read_text(encoding="utf-8"))
    assert named
    missing = [f"{path}::{name}" for path, name in named if not (ROOT / path).is_file() or name not in _tests(path)]
    assert missing == []


def test_every_item_of_the_issue_has_a_row_with_a_test() -> None:
    rows = _rows()
    assert {int(r[0]) for r in rows} == set(range(1, 14))
    assert all(len(r) == 5 and NAMED.search(r[4]) for r in rows), [r for r in rows if len(r) != 5]


def test_every_hardening_test_is_in_the_table() -> None:
    named = set(NAMED.findall(DOC.read_text(encoding="utf-8")))
    absent = [f"{path}::{name}" for path in HARDENING for name in sorted(_tests(path)) if (path, name) not in named]
    assert absent == []
