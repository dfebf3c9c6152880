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
    if not sys.stdout.isatty():
        plain = plain_table(title, columns, rows)
        if plain is not None:
            click.echo(plain)
            return
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        cells = ["" if v is None else str(v) for v in row]
        t.add_row(*(Text(c, style=STYLES.get(c, "")) for c in cells))
    console().print(t)


MARKUP = frozenset("[]:\\")
WIDTH = 160  # the width rich draws at when the output is no terminal (`console`)


def _simple(text: str) -> bool:
    """Text rich draws as it is: one line, one column per character (ASCII and the Latin letters the
    network's names use), nothing leading or trailing for it to trim or expand."""
    return text == text.strip() and all(
        ch.isprintable() and (" " <= ch < "\x7f" or "\xc0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff")
        for ch in text
    )


def plain_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str | None:
    """The table as rich draws it for output that is no terminal (no colour, heavy head, width 160),
    drawn here without importing rich (~18 ms of every `show`); None when rich would wrap, trim or
    measure something, so that it draws those. tests/test_outputs.py holds both drawings equal."""
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    if any(len(row) != len(columns) or not all(_simple(c) for c in row) for row in cells):
        return None
    if any(ch in MARKUP for text in (*cells[0], title or "") for ch in text):
        return None  # rich reads a heading and the title as markup (`[b]`, `:smile:`)
    widths = [max(len(row[i]) for row in cells) + 2 for i in range(len(columns))]
    total = sum(widths) + len(widths) + 1
    if not columns or total > WIDTH or (title is not None and (not _simple(title) or len(title) > total)):
        return None

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * w for w in widths) + right

    def line(row: list[str], edge: str) -> str:
        return edge + edge.join(f" {c:<{w - 2}} " for c, w in zip(row, widths, strict=True)) + edge

    lines = [] if title is None else [f"{title:<{total}}"]
    lines += [rule("┏", "━", "┳", "┓"), line(cells[0], "┃"), rule("┡", "━", "╇", "┩")]
    lines += [line(row, "│") for row in cells[1:]]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines)


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
