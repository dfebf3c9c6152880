"""notice due: an indexed column for deadlines whose overdue notice is still owed

Revision ID: 0003
Revises: 0002

The due-work pass looked for missed deadlines by scanning every deliverable past its deadline;
with `notice_due` (set to the deadline on entering a stage, cleared when the notice is claimed)
it reads only the notices owed, so a pass costs what is due, not what is stored.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliverable", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_due", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_deliverable_notice_due"), ["notice_due"], unique=False)
    op.execute(
        "UPDATE deliverable SET notice_due = deadline WHERE deadline IS NOT NULL "
        "AND (notified_deadline IS NULL OR notified_deadline <> deadline)"
    )


def downgrade() -> None:
    with op.batch_alter_table("deliverable", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliverable_notice_due"))
        batch_op.drop_column("notice_due")
