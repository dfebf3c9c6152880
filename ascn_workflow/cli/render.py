"""Output: JSON for scripts, rich tables for people. One data structure feeds both."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console


def emit_json(data: Any) -> None:
    """An object indented; a list one element per line (json's C encoder: `status` at M is 20,000 rows)."""
    if isinstance(data, list):
        rows = ",\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in data)
        click.echo(f"[\n{rows}\n]" if data else "[]")
        return
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console() -> Console:
    from rich.console import Console

    from . import colour

    tty = sys.stdout.isatty()
    out = Console(
        width=None if tty else 160, soft_wrap=False, highlight=False, no_color=not colour(), force_terminal=tty
    )
    out.on_broken_pipe = _reader_gone  # type: ignore[method-assign]  # rich would exit 1; the CLI ends it as 141
    return out


def _reader_gone() -> None:
    raise BrokenPipeError("standard output was closed")


STYLES = {"OVERDUE": "bold red"}


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for people: values are plain text (never rich markup), OVERDUE in red on a terminal."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        cells = ["" if v is None else str(v) for v in row]
        t.add_row(*(Text(c, style=STYLES.get(c, "")) for c in cells))
    console().print(t)


def write_output(path: Path, data: bytes) -> None:
    """`--output FILE`: a folder, a missing folder or a full disk is one line of bad input (exit 2)."""
    from ..errors import BadInput

    if path.is_dir():
        raise BadInput(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'out'}")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def line(text: str) -> None:
    click.echo(text)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 deliverable`, `2 deliverables`, `0 deliverables`."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
