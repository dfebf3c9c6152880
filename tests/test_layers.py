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
    "deliverable",
    "opening",
    "people",
    "nominations",
    "rescheduling",
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


DATABASE = {"sqlalchemy", "sqlmodel", "alembic", "psycopg", "sqlite3"}


def _modules_outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "store" not in p.relative_to(PACKAGE).parts[:1])


def _absolute_imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (inside functions too), as an absolute dotted name."""
    package = ["ascn_workflow", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", _modules_outside_store(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_store_knows_the_database(path: Path) -> None:
    """Services, views, due work, reports and the CLI use the store port (`ascn_workflow.store`):
    no SQL library, and none of the store's own modules (its tables, statements, migrations)."""
    imported = _absolute_imports(path)
    foreign = {name for name in imported if name.split(".")[0] in DATABASE}
    assert not foreign, f"{path.name} imports {foreign}"
    inside = {n for n in imported if n.startswith("ascn_workflow.store.") and n.count(".") >= 2}
    public = {f"ascn_workflow.store.{name}" for name in __import__("ascn_workflow.store").store.__all__}
    assert inside <= public, f"{path.name} reaches into the store: {sorted(inside - public)}"
