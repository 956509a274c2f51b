"""GraphQL documents sent to the SpaceX Land API: per entity type, a page and the whole list.

Each asks for every field the transform models store, so the `raw` column keeps the whole record.
Only fields both the v3 schema and the live server know are asked for: an unknown field makes the
live server refuse the whole query (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from spacex_etl.entities import Entity

_LAUNCH_FIELDS: Final = """{
    id
    mission_name
    mission_id
    upcoming
    launch_year
    launch_date_unix
    launch_date_utc
    launch_date_local
    is_tentative
    tentative_max_precision
    static_fire_date_utc
    launch_success
    details
    launch_site { site_id site_name site_name_long }
    rocket { rocket_name rocket_type rocket { id } }
    links {
      article_link
      flickr_images
      mission_patch
      mission_patch_small
      presskit
      reddit_campaign
      reddit_launch
      reddit_media
      reddit_recovery
      video_link
      wikipedia
    }
}"""

_MISSION_FIELDS: Final = """{
    id
    name
    description
    manufacturers
    payloads { id }
    twitter
    website
    wikipedia
}"""

_ROCKET_FIELDS: Final = """{
    id
    name
    type
    active
    stages
    boosters
    cost_per_launch
    success_rate_pct
    first_flight
    country
    company
    height { meters feet }
    diameter { meters feet }
    mass { kg lb }
    description
    wikipedia
}"""

_SELECTIONS: Final[Mapping[Entity, str]] = {
    "launches": _LAUNCH_FIELDS,
    "missions": _MISSION_FIELDS,
    "rockets": _ROCKET_FIELDS,
}
# A stable order makes offset paging repeatable on servers that honour it (the live one ignores it).
_ORDER: Final[Mapping[Entity, str]] = {"launches": ', sort: "flight_number", order: "asc"'}


def page_query(entity: Entity) -> str:
    """One page: `$limit` records from `$offset`."""
    return (
        f"query Page($limit: Int!, $offset: Int!) {{\n"
        f"  page: {entity}(limit: $limit, offset: $offset{_ORDER.get(entity, '')}) "
        f"{_SELECTIONS[entity]}\n}}"
    )


def whole_list_query(entity: Entity) -> str:
    """The whole list in one answer: complete by construction, whatever the server's paging does."""
    order = _ORDER.get(entity, "").removeprefix(", ")
    arguments = f"({order})" if order else ""
    return f"query WholeList {{\n  page: {entity}{arguments} {_SELECTIONS[entity]}\n}}"
