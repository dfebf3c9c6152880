"""Output: JSON for scripts, rich tables for people. One data structure feeds both."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
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

    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False, highlight=False)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def line(text: str) -> None:
    click.echo(text)
