"""Pydantic models of the source records (GraphQL shape) and the table rows they become.

Models are strict: a value of the wrong JSON type is a rejected record, not a coerced one.
Unknown extra fields are ignored here and kept in `raw`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from spacex_etl.transform.fields import IsoDate, OptStr, UtcDatetime


class SourceModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    COLUMNS: ClassVar[tuple[str, ...]]
    URL_FIELDS: ClassVar[tuple[str, ...]]

    id: str = Field(min_length=1)

    def row(self) -> tuple[Any, ...]:
        """Typed column values in `COLUMNS` order."""
        raise NotImplementedError

    def url_values(self) -> list[str | None]:
        """Every value of the URL-bearing fields, one per occurrence (DESIGN §2)."""
        raise NotImplementedError


class _Part(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class LaunchSite(_Part):
    site_id: OptStr = None
    site_name: OptStr = None
    site_name_long: OptStr = None


class RocketRef(_Part):
    id: OptStr = None


class LaunchRocket(_Part):
    rocket_name: OptStr = None
    rocket_type: OptStr = None
    rocket: RocketRef | None = None


class LaunchLinks(_Part):
    article_link: OptStr = None
    flickr_images: list[OptStr] | None = None
    mission_patch: OptStr = None
    mission_patch_small: OptStr = None
    presskit: OptStr = None
    reddit_campaign: OptStr = None
    reddit_launch: OptStr = None
    reddit_media: OptStr = None
    reddit_recovery: OptStr = None
    video_link: OptStr = None
    wikipedia: OptStr = None

    SINGLE: ClassVar[tuple[str, ...]] = (
        "article_link",
        "mission_patch",
        "mission_patch_small",
        "presskit",
        "reddit_campaign",
        "reddit_launch",
        "reddit_media",
        "reddit_recovery",
        "video_link",
        "wikipedia",
    )


class Launch(SourceModel):
    id: str = Field(pattern=r"^[0-9]+$", description="The flight number, as the API sends it.")
    mission_name: OptStr = None
    mission_id: list[str] | None = None
    upcoming: bool | None = None
    launch_year: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    launch_date_utc: UtcDatetime = None
    launch_date_local: OptStr = None
    is_tentative: bool | None = None
    tentative_max_precision: OptStr = None
    static_fire_date_utc: UtcDatetime = None
    launch_success: bool | None = None
    details: OptStr = None
    launch_site: LaunchSite | None = None
    rocket: LaunchRocket | None = None
    links: LaunchLinks | None = None

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "flight_number",
        "mission_name",
        "mission_ids",
        "upcoming",
        "launch_year",
        "launch_date_utc",
        "launch_date_local",
        "is_tentative",
        "tentative_max_precision",
        "static_fire_date_utc",
        "launch_success",
        "details",
        "site_id",
        "site_name",
        "site_name_long",
        "rocket_id",
        "rocket_name",
        "rocket_type",
        "flickr_images",
        *LaunchLinks.SINGLE,
    )

    def row(self) -> tuple[Any, ...]:
        site = self.launch_site or LaunchSite()
        rocket = self.rocket or LaunchRocket()
        links = self.links or LaunchLinks()
        return (
            self.id,
            int(self.id),
            self.mission_name,
            list(self.mission_id or ()),
            self.upcoming,
            int(self.launch_year) if self.launch_year else None,
            self.launch_date_utc,
            self.launch_date_local,
            self.is_tentative,
            self.tentative_max_precision,
            self.static_fire_date_utc,
            self.launch_success,
            self.details,
            site.site_id,
            site.site_name,
            site.site_name_long,
            rocket.rocket.id if rocket.rocket else None,
            rocket.rocket_name,
            rocket.rocket_type,
            [image for image in links.flickr_images or () if image is not None],
            *(getattr(links, name) for name in LaunchLinks.SINGLE),
        )

    def url_values(self) -> list[str | None]:
        links = self.links or LaunchLinks()
        return [
            *(getattr(links, name) for name in LaunchLinks.SINGLE),
            *(links.flickr_images or ()),
        ]


class PayloadRef(_Part):
    id: str


class Mission(SourceModel):
    name: OptStr = None
    description: OptStr = None
    manufacturers: list[str] | None = None
    payloads: list[PayloadRef | None] | None = None
    twitter: OptStr = None
    website: OptStr = None
    wikipedia: OptStr = None

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "name",
        "description",
        "manufacturers",
        "payload_ids",
        "twitter",
        "website",
        "wikipedia",
    )

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.description,
            list(self.manufacturers or ()),
            [payload.id for payload in self.payloads or () if payload is not None],
            self.twitter,
            self.website,
            self.wikipedia,
        )

    def url_values(self) -> list[str | None]:
        return [self.twitter, self.website, self.wikipedia]


class Distance(_Part):
    meters: float | None = None


class Mass(_Part):
    kg: float | None = None


class Rocket(SourceModel):
    name: OptStr = None
    type: OptStr = None
    active: bool | None = None
    stages: int | None = None
    boosters: int | None = None
    cost_per_launch: int | None = None
    success_rate_pct: int | None = None
    first_flight: IsoDate = None
    country: OptStr = None
    company: OptStr = None
    height: Distance | None = None
    diameter: Distance | None = None
    mass: Mass | None = None
    description: OptStr = None
    wikipedia: OptStr = None

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "name",
        "type",
        "active",
        "stages",
        "boosters",
        "cost_per_launch",
        "success_rate_pct",
        "first_flight",
        "country",
        "company",
        "height_m",
        "diameter_m",
        "mass_kg",
        "description",
        "wikipedia",
    )

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.type,
            self.active,
            self.stages,
            self.boosters,
            self.cost_per_launch,
            self.success_rate_pct,
            self.first_flight,
            self.country,
            self.company,
            self.height.meters if self.height else None,
            self.diameter.meters if self.diameter else None,
            self.mass.kg if self.mass else None,
            self.description,
            self.wikipedia,
        )

    def url_values(self) -> list[str | None]:
        return [self.wikipedia]


MODELS: dict[str, type[SourceModel]] = {"launches": Launch, "missions": Mission, "rockets": Rocket}
