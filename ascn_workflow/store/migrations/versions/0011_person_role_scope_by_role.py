"""person_role: (role, member_state) and (role, city) indexes

The people who may receive a batch of messages are read in one query of three branches (network
roles; a member state's people; a city's CSCOs), each answered by one of these indexes whatever
the planner knows of the table: with the single-column ones it read every CSCO through the role
index, at L (10,000 cities) most of a due pass.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 18:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person_role", schema=None) as batch_op:
        batch_op.create_index("ix_person_role_role_member_state", ["role", "member_state"], unique=False)
        batch_op.create_index("ix_person_role_role_city", ["role", "city"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person_role", schema=None) as batch_op:
        batch_op.drop_index("ix_person_role_role_city")
        batch_op.drop_index("ix_person_role_role_member_state")
