"""Indexes for keyset paging of the browse API (`GET /launches`).

Each index ends in `id`, the tiebreaker of every keyset, so that a page after a cursor is one
index range scan whatever its depth: the last page of 1M launches costs what the first does.
`(launch_date_utc, id)` replaces the plain `launch_date_utc` index it extends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_launches_launch_date_utc_id": "launch_date_utc, id",
    "ix_launches_flight_number_id": "flight_number, id",
    "ix_launches_launch_year_launch_date_utc_id": "launch_year, launch_date_utc, id",
    "ix_launches_rocket_id_launch_date_utc_id": "rocket_id, launch_date_utc, id",
}


def upgrade() -> None:
    op.execute("DROP INDEX ix_launches_launch_date_utc")
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON launches ({columns})")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("CREATE INDEX ix_launches_launch_date_utc ON launches (launch_date_utc)")
