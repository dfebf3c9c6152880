"""Versions of a deliverable's document: `document add`, `document list`."""

from __future__ import annotations

from pathlib import Path

import click

from . import Invocation, cli, json_option
from .options import pass_invocation
from .render import emit_json, line, table


@cli.group()
def document() -> None:
    """Versions of a deliverable's document, content-addressed by SHA-256 ([documents] dir)."""


@document.command("add")
@click.argument("deliverable_id")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--title", help="What this version is (default: the file's name).")
@json_option
@pass_invocation
def document_add(invocation: Invocation, deliverable_id: str, file: Path, title: str | None, as_json: bool) -> None:
    """Store a version of the deliverable's document (never overwritten; the same bytes twice are one version).

    Example: ascn --actor shepherd@mnd.gov.sg document add 2018/framework framework-v2.pdf --title "Draft after the SCGW"
    """
    from .. import documents

    result = documents.add(invocation.app, deliverable_id, file, invocation.now(), invocation.acting_actor(), title)
    if as_json:
        emit_json(result)
        return
    known = "" if result["added"] else " (already stored: the same bytes)"
    line(f"{result['deliverable_id']} version {result['version']}: {result['sha256']} {result['title']}{known}")


@document.command("list")
@click.argument("deliverable_id")
@json_option
@pass_invocation
def document_list(invocation: Invocation, deliverable_id: str, as_json: bool) -> None:
    """Every version of the deliverable's document, oldest first.

    Example: ascn document list 2018/framework
    """
    from .. import documents

    rows = documents.list_versions(invocation.app, deliverable_id)
    if as_json:
        emit_json(rows)
        return
    table(
        f"Documents of {deliverable_id}",
        ["#", "title", "sha256", "bytes", "added", "by"],
        [[r["version"], r["title"], r["sha256"][:16] + "…", r["size"], r["added_at"], r["added_by"]] for r in rows],
    )
