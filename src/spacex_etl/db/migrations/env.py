"""Alembic environment: migrates on the connection `Database.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from spacex_etl.db.tables import metadata

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise SystemExit("migrations run through `spacex-etl migrate` (no SQL scripts, no alembic CLI)")
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
