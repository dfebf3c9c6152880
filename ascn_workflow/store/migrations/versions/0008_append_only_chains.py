"""append-only chains: calendar changes and directory changes refuse UPDATE and DELETE, as history does

Revision ID: 0008
Revises: 0007

The three hash chains `ascn audit verify` checks (history, calendar_change, directory_change) are
append-only in the database itself: triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE).
The triggers are the migration environment's (store/append_only.py): it lifts them before the
migrations run and installs them, on every chain, after the run, so that a later revision may
still rewrite rows in the same run. This revision is what takes a database of 0007 through that
installation (`ascn db upgrade`; the commands refuse a database behind the head), and on
PostgreSQL it drops 0006's history-only trigger function, replaced by one that names the table.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # the environment dropped its triggers (env.py)
        op.execute("DROP FUNCTION IF EXISTS ascn_history_append_only()")


def downgrade() -> None:
    """Nothing to undo in the schema: the environment keeps every chain append-only at any revision,
    since no revision ever updates or deletes a calendar or directory change."""
