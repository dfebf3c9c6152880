"""The layering is kept honest: the pure core imports no adapter, no service and no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ascn_workflow"
CORE = [
    "errors",
    "spec",
    "definitions",
    "dates",
    "planning",
    "rules",
    "machine",
    "engine",
    "opening",
    "people",
    "nominations",
]
OUTER = {"store", "mail", "scheduling", "cli", "services", "app", "due", "reminding", "simulation", "config"}
FOREIGN = {"sqlmodel", "sqlalchemy", "apscheduler", "click", "rich", "jinja2", "smtplib", "aiosmtpd"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".")[0]
            names.add(base if node.level == 0 else (node.module or "").split(".")[0] or "")
            if node.level and not node.module:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_outer_layer(module: str) -> None:
    imported = _imports(PACKAGE / f"{module}.py")
    assert not imported & OUTER, f"{module} imports {imported & OUTER}"
    assert not imported & FOREIGN, f"{module} imports {imported & FOREIGN}"


@pytest.mark.parametrize("module", CORE)
def test_core_reads_no_clock(module: str) -> None:
    text = (PACKAGE / f"{module}.py").read_text()
    for call in ("datetime.now(", "datetime.utcnow(", "pendulum.now(", "time.time(", "date.today("):
        assert call not in text, f"{module} reads the clock with {call}"


def _core_graph() -> dict[str, set[str]]:
    graph = {}
    for module in CORE:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        graph[module] = {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        } & set(CORE)
    return graph


def test_core_has_no_import_circle() -> None:
    """Spec types stand apart from the parser, so dates and rules never reach back into it."""
    graph = _core_graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import circle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in CORE:
        visit(module, ())


def test_spec_types_import_nothing_but_errors() -> None:
    assert _core_graph()["spec"] <= {"errors"}
