"""Table definitions (SQLAlchemy Core). Migrations create them; a test checks the two agree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from spacex_etl.entities import ENTITIES, Entity

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

RUN_STATUSES = ("running", "success", "partial", "failed", "interrupted")


def _tz(name: str, *, nullable: bool = False, default_now: bool = True) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


def _record_columns() -> list[Column[object]]:
    """Columns every source-record table carries besides its typed fields.

    `content_hash` lets an upsert skip unchanged rows without comparing every column;
    there is deliberately no per-row "last seen" column, so an unchanged run writes nothing.
    """
    return [
        Column("url_count", Integer, nullable=False),
        Column("raw", JSONB, nullable=False),
        Column("content_hash", LargeBinary, nullable=False),
        _tz("first_seen_at"),
        _tz("updated_at"),
        _tz("deleted_at", nullable=True, default_now=False),
    ]


rockets = Table(
    "rockets",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text),
    Column("type", Text),
    Column("active", Boolean),
    Column("stages", Integer),
    Column("boosters", Integer),
    Column("cost_per_launch", BigInteger),
    Column("success_rate_pct", Integer),
    Column("first_flight", Date),
    Column("country", Text),
    Column("company", Text),
    Column("height_m", Double),
    Column("diameter_m", Double),
    Column("mass_kg", Double),
    Column("description", Text),
    Column("wikipedia", Text),
    *_record_columns(),
)

missions = Table(
    "missions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text),
    Column("description", Text),
    Column("manufacturers", ARRAY(Text), nullable=False),
    Column("payload_ids", ARRAY(Text), nullable=False),
    Column("twitter", Text),
    Column("website", Text),
    Column("wikipedia", Text),
    *_record_columns(),
)

launches = Table(
    "launches",
    metadata,
    Column("id", Text, primary_key=True),
    # Only where the source sends one: the live API's v4 launches have none.
    Column("flight_number", Integer),
    Column("mission_name", Text),
    Column("mission_ids", ARRAY(Text), nullable=False),
    Column("upcoming", Boolean),
    Column("launch_year", Integer),
    Column("launch_date_utc", DateTime(timezone=True)),
    Column("launch_date_local", Text),
    Column("is_tentative", Boolean),
    Column("tentative_max_precision", Text),
    Column("static_fire_date_utc", DateTime(timezone=True)),
    Column("launch_success", Boolean),
    Column("details", Text),
    Column("site_id", Text),
    Column("site_name", Text),
    Column("site_name_long", Text),
    # A link kept without a foreign key: a launch may name a rocket not (yet) loaded.
    Column("rocket_id", Text, info={"refers_to": "rockets.id"}),
    Column("rocket_name", Text),
    Column("rocket_type", Text),
    Column("article_link", Text),
    Column("flickr_images", ARRAY(Text), nullable=False),
    Column("mission_patch", Text),
    Column("mission_patch_small", Text),
    Column("presskit", Text),
    Column("reddit_campaign", Text),
    Column("reddit_launch", Text),
    Column("reddit_media", Text),
    Column("reddit_recovery", Text),
    Column("video_link", Text),
    Column("wikipedia", Text),
    *_record_columns(),
    # Keyset paging of `GET /launches` (migration 0003): each index ends in the tiebreaker `id`.
    Index(None, "launch_date_utc", "id"),
    Index(None, "flight_number", "id"),
    Index(None, "launch_year", "launch_date_utc", "id"),
    Index(None, "rocket_id", "launch_date_utc", "id"),
)

SOURCE_TABLES: Final[Mapping[Entity, Table]] = {
    "launches": launches,
    "missions": missions,
    "rockets": rockets,
}

launch_missions = Table(
    "launch_missions",
    metadata,
    Column("launch_id", Text, ForeignKey("launches.id", ondelete="CASCADE"), nullable=False),
    # No foreign key to missions: launches name missions the missions list may not (yet) hold.
    Column("mission_id", Text, nullable=False, info={"refers_to": "missions.id"}),
    PrimaryKeyConstraint("launch_id", "mission_id"),
    Index(None, "mission_id"),
)

etl_runs = Table(
    "etl_runs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _tz("started_at"),
    _tz("finished_at", nullable=True, default_now=False),
    Column("status", Text, nullable=False),
    Column("stats", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error", Text),
    CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
    Index(None, "started_at"),
)

rejected_records = Table(
    "rejected_records",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("entity", Text, nullable=False),
    Column("source_id", Text),
    Column("reason", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("payload_hash", LargeBinary, nullable=False),
    Column("run_id", BigInteger, ForeignKey("etl_runs.id", ondelete="SET NULL")),
    _tz("rejected_at"),
    # The same bad payload is kept once, however many runs see it.
    UniqueConstraint("entity", "payload_hash"),
)

object_url_count = Table(
    "object_url_count",
    metadata,
    Column("entity", Text, primary_key=True),
    Column("url_count", BigInteger, nullable=False),
    _tz("refreshed_at"),
    CheckConstraint(f"entity IN {ENTITIES!r}", name="entity"),
)
