"""append-only documents: document rows refuse UPDATE and DELETE, as the other hash chains do

Revision ID: 0010
Revises: 0009

Since 0009 each deliverable's document rows form a hash chain; no command updates or deletes
one. As for 0008, the triggers are the migration environment's (store/append_only.py), installed
after every run; this revision takes a database of 0009 through that installation.
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The environment installs the triggers after the run (env.py)."""


def downgrade() -> None:
    """Nothing in the schema to undo (see 0008)."""
