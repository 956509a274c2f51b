"""Opaque launch ids: `flight_number` becomes nullable, filled only where the source sends one.

Until now a launch's flight number was derived from its id (the v3 API's ids are flight numbers),
which the live API's 24-hex v4 ids break. The derived values are cleared: the id keeps the same
text, so nothing is lost, and no row keeps a number its source never sent. Every row stays.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE launches ALTER COLUMN flight_number DROP NOT NULL")
    op.execute("UPDATE launches SET flight_number = NULL WHERE flight_number::text = id")


def downgrade() -> None:
    # Back to the v3-only schema: only numeric ids have a flight number to restore, and a
    # database holding any other id cannot go back without losing rows.
    op.execute(
        """DO $$ BEGIN
             IF EXISTS (SELECT 1 FROM launches WHERE flight_number IS NULL AND id !~ '^[0-9]{1,9}$')
             THEN RAISE EXCEPTION 'launches with v4 ids exist: downgrading would lose them';
             END IF;
           END $$"""
    )
    op.execute("UPDATE launches SET flight_number = id::integer WHERE flight_number IS NULL")
    op.execute("ALTER TABLE launches ALTER COLUMN flight_number SET NOT NULL")
