"""document chain: each deliverable's document rows chained by hash, as its history is

Revision ID: 0009
Revises: 0008

A document row's title, file name, size, author and instant were in no hash: edited in the
database, `ascn audit verify` could not tell. Each row now stores `prev_hash` (the hash of the
deliverable's previous document row, "" for the first) and `hash` (audit.document_digest); the
rows already stored are chained here, per deliverable in the order they were added.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _type(name: str) -> sa.types.TypeEngine[Any]:
    if name == "added_at":
        return sa.DateTime(timezone=True)
    return sa.Integer() if name == "size" else sa.String()


def upgrade() -> None:
    from ascn_workflow.audit import DOCUMENT_FIELDS, document_digest

    text = sqlmodel.sql.sqltypes.AutoString
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hash", text(), nullable=False, server_default=""))
    document = sa.table(
        "document",
        sa.column("id", sa.Integer),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
        *(sa.column(name, _type(name)) for name in DOCUMENT_FIELDS),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(document).order_by(document.c.deliverable_id, document.c.id)).mappings().all()
    previous: dict[str, str] = {}
    for row in rows:
        values = dict(row)
        if values["added_at"].tzinfo is None:  # SQLite hands back naive UTC
            values["added_at"] = values["added_at"].replace(tzinfo=UTC)
        prev = previous.get(row["deliverable_id"], "")
        value = document_digest(values, prev)
        connection.execute(sa.update(document).where(document.c.id == row["id"]).values(prev_hash=prev, hash=value))
        previous[row["deliverable_id"]] = value


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
