"""directory change: the people directory's grants as one hash chain (who granted which role, when)

Revision ID: 0007
Revises: 0006

Roles held before this migration are recorded as granted by `before-0007` at the time of the
upgrade, in the order they were stored, so that `ascn audit verify` starts from an intact chain.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ascn_workflow.audit import directory_digest

    text = sqlmodel.sql.sqltypes.AutoString
    table = op.create_table(
        "directory_change",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", text(), nullable=False),
        sa.Column("email", text(), nullable=False),
        sa.Column("name", text(), nullable=False),
        sa.Column("role", text(), nullable=False),
        sa.Column("member_state", text(), nullable=False),
        sa.Column("city", text(), nullable=False),
        sa.Column("prev_hash", text(), nullable=False),
        sa.Column("hash", text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("directory_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_change_email"), ["email"], unique=False)
    connection = op.get_bind()
    held = connection.execute(
        sa.text(
            "SELECT r.email, p.name, r.role, r.member_state, r.city FROM person_role r "
            "JOIN person p ON p.email = r.email ORDER BY r.id"
        )
    ).all()
    at = datetime.now(UTC).replace(microsecond=0)
    prev = ""
    rows = []
    for seq, (email, name, role, member_state, city) in enumerate(held, start=1):
        change = {
            "seq": seq,
            "at": at,
            "actor": "before-0007",
            "email": email,
            "name": name,
            "role": role,
            "member_state": member_state or "",
            "city": city or "",
        }
        value = directory_digest(change, prev)
        rows.append({**change, "prev_hash": prev, "hash": value})
        prev = value
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("directory_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_change_email"))
    op.drop_table("directory_change")
