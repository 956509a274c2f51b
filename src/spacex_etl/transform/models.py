"""Pydantic models of the source records (GraphQL shape) and the table rows they become.

Models are strict: a value of the wrong JSON type is a rejected record, not a coerced one.
Unknown extra fields are ignored here and kept in `raw`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from spacex_etl.entities import Entity
from spacex_etl.transform.fields import IsoDate, OptStr, UtcDatetime


class SourceModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: str = Field(min_length=1, description="Opaque: a v3 flight number or a v4 24-hex id.")

    def row(self) -> dict[str, Any]:
        """The typed columns of the record's table, by column name."""
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


def _year_or_none(value: Any) -> Any:
    # The live API computes launch_year from the local date, and one of its revisions broke it
    # for every launch: a year that is missing or not four digits is derived from the date.
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}", value):
        return int(value)
    return None


class Launch(SourceModel):
    flight_number: int | None = Field(
        default=None, description="Only where the source sends one (the GraphQL schemas don't)."
    )
    mission_name: OptStr = None
    mission_id: list[str] | None = None
    upcoming: bool | None = None
    launch_year: Annotated[int | None, BeforeValidator(_year_or_none)] = None
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

    def _year(self) -> int | None:
        if self.launch_year is not None:
            return self.launch_year
        local = self.launch_date_local or ""
        if re.match(r"[0-9]{4}-", local):
            return int(local[:4])
        return self.launch_date_utc.year if self.launch_date_utc else None

    def row(self) -> dict[str, Any]:
        site = self.launch_site or LaunchSite()
        rocket = self.rocket or LaunchRocket()
        links = self.links or LaunchLinks()
        return {
            "id": self.id,
            "flight_number": self.flight_number,
            "mission_name": self.mission_name,
            "mission_ids": list(self.mission_id or ()),
            "upcoming": self.upcoming,
            "launch_year": self._year(),
            "launch_date_utc": self.launch_date_utc,
            "launch_date_local": self.launch_date_local,
            "is_tentative": self.is_tentative,
            "tentative_max_precision": self.tentative_max_precision,
            "static_fire_date_utc": self.static_fire_date_utc,
            "launch_success": self.launch_success,
            "details": self.details,
            "site_id": site.site_id,
            "site_name": site.site_name,
            "site_name_long": site.site_name_long,
            "rocket_id": rocket.rocket.id if rocket.rocket else None,
            "rocket_name": rocket.rocket_name,
            "rocket_type": rocket.rocket_type,
            "flickr_images": [image for image in links.flickr_images or () if image is not None],
            **{name: getattr(links, name) for name in LaunchLinks.SINGLE},
        }

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

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "manufacturers": list(self.manufacturers or ()),
            "payload_ids": [payload.id for payload in self.payloads or () if payload is not None],
            "twitter": self.twitter,
            "website": self.website,
            "wikipedia": self.wikipedia,
        }

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

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "active": self.active,
            "stages": self.stages,
            "boosters": self.boosters,
            "cost_per_launch": self.cost_per_launch,
            "success_rate_pct": self.success_rate_pct,
            "first_flight": self.first_flight,
            "country": self.country,
            "company": self.company,
            "height_m": self.height.meters if self.height else None,
            "diameter_m": self.diameter.meters if self.diameter else None,
            "mass_kg": self.mass.kg if self.mass else None,
            "description": self.description,
            "wikipedia": self.wikipedia,
        }

    def url_values(self) -> list[str | None]:
        return [self.wikipedia]


MODELS: Final[Mapping[Entity, type[SourceModel]]] = {
    "launches": Launch,
    "missions": Mission,
    "rockets": Rocket,
}
