"""What the browse API answers: launches, missions and rockets with their URLs, and pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from spacex_etl.transform.models import LaunchLinks

# The URL-bearing fields of each entity type (DESIGN §2: they define the data mart).
LAUNCH_URL_FIELDS = (*LaunchLinks.SINGLE, "flickr_images")
MISSION_URL_FIELDS = ("twitter", "website", "wikipedia")
ROCKET_URL_FIELDS = ("wikipedia",)
URL_FIELDS = {
    "launches": LAUNCH_URL_FIELDS,
    "missions": MISSION_URL_FIELDS,
    "rockets": ROCKET_URL_FIELDS,
}


class LaunchUrls(BaseModel):
    """The launch's links as stored (also values that are not URLs: they are not counted)."""

    article_link: str | None
    flickr_images: list[str]
    mission_patch: str | None
    mission_patch_small: str | None
    presskit: str | None
    reddit_campaign: str | None
    reddit_launch: str | None
    reddit_media: str | None
    reddit_recovery: str | None
    video_link: str | None
    wikipedia: str | None


class LaunchRocket(BaseModel):
    id: str | None
    name: str | None
    type: str | None


class LaunchSite(BaseModel):
    id: str | None
    name: str | None
    name_long: str | None


class Launch(BaseModel):
    id: str
    flight_number: int | None = Field(description="Only the v3 data has one; the live API none.")
    mission_name: str | None
    mission_ids: list[str]
    launch_year: int | None
    launch_date_utc: datetime | None
    launch_date_local: str | None
    upcoming: bool | None
    launch_success: bool | None = Field(description="Null when the source does not say.")
    details: str | None
    rocket: LaunchRocket
    site: LaunchSite
    urls: LaunchUrls
    url_count: int = Field(description="URLs counted by the data mart's rule.")
    first_seen_at: datetime
    updated_at: datetime


class MissionUrls(BaseModel):
    twitter: str | None
    website: str | None
    wikipedia: str | None


class Mission(BaseModel):
    id: str
    name: str | None
    description: str | None
    manufacturers: list[str]
    payload_ids: list[str]
    urls: MissionUrls
    url_count: int
    first_seen_at: datetime
    updated_at: datetime


class RocketUrls(BaseModel):
    wikipedia: str | None


class Rocket(BaseModel):
    id: str
    name: str | None
    type: str | None
    active: bool | None
    stages: int | None
    boosters: int | None
    cost_per_launch: int | None
    success_rate_pct: int | None
    first_flight: date | None
    country: str | None
    company: str | None
    height_m: float | None
    diameter_m: float | None
    mass_kg: float | None
    description: str | None
    urls: RocketUrls
    url_count: int
    first_seen_at: datetime
    updated_at: datetime


Item = TypeVar("Item", Launch, Mission, Rocket)


class Page(BaseModel, Generic[Item]):
    """One page of a listing; pass `next_cursor` as `cursor` for the next (null: the last)."""

    items: list[Item]
    next_cursor: str | None
    limit: int
