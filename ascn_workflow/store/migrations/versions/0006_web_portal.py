"""web portal: sign-in links, sessions, calendar feeds; history channel and recorder; person login

Revision ID: 0006
Revises: 0005

The portal (SPEC §8) keeps only hashes of its secrets. History rows record where an act came in
(`channel`: cli, web, scheduler) and who proved they recorded it (`recorded_by`); the rows already
stored came from the command line. The append-only triggers are installed by the migration
environment after every run (store/append_only.py).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_person_login"), ["login"])
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="cli")
        )
        batch_op.add_column(sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        "web_signin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_web_signin_email"), "web_signin", ["email"], unique=False)
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("csrf", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_web_session_email"), "web_session", ["email"], unique=False)
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_calendar_feed_email"), "calendar_feed", ["email"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_feed_email"), table_name="calendar_feed")
    op.drop_table("calendar_feed")
    op.drop_index(op.f("ix_web_session_email"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_index(op.f("ix_web_signin_email"), table_name="web_signin")
    op.drop_table("web_signin")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("recorded_by")
        batch_op.drop_column("channel")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_person_login"), type_="unique")
        batch_op.drop_column("login")
