"""Alembic environment: runs on the connection the store hands it (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import context

from ascn_workflow.store.append_only import protect, unprotect
from ascn_workflow.store.schema import metadata  # derived from the declarations in store/tables.py

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    unprotect(connection)  # a migration may rewrite history rows (0002 did); nothing else may
    context.run_migrations()
    protect(connection)
