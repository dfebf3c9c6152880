"""history hash chain: prev_hash and hash on every history row, computed for existing rows

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _type(name: str) -> sa.types.TypeEngine[Any]:
    if name in ("data", "waivers"):
        return sa.JSON()
    if name.endswith("_at"):
        return sa.DateTime(timezone=True)
    return sa.Integer() if name == "seq" else sa.String()


def upgrade() -> None:
    from ascn_workflow.audit import FIELDS, digest

    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hash", sa.String(), nullable=False, server_default=""))
    history = sa.table(
        "history",
        sa.column("id", sa.Integer),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
        *(sa.column(name, _type(name)) for name in FIELDS),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(history).order_by(history.c.deliverable_id, history.c.seq)).mappings().all()
    previous: dict[str, str] = {}
    for row in rows:
        values = dict(row)
        for key in ("effective_at", "recorded_at"):  # SQLite hands back naive UTC
            if values[key] is not None and values[key].tzinfo is None:
                values[key] = values[key].replace(tzinfo=UTC)
        prev = previous.get(row["deliverable_id"], "")
        value = digest(values, prev)
        connection.execute(sa.update(history).where(history.c.id == row["id"]).values(prev_hash=prev, hash=value))
        previous[row["deliverable_id"]] = value


def downgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
