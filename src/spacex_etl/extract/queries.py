"""GraphQL documents sent to the SpaceX Land API: one paged query per entity type.

Each asks for every field the transform models store, so the `raw` column keeps the whole record.
"""

from __future__ import annotations

from typing import Final

LAUNCHES: Final = """
query Launches($limit: Int!, $offset: Int!) {
  page: launches(limit: $limit, offset: $offset, sort: "flight_number", order: "asc") {
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
  }
}
"""

MISSIONS: Final = """
query Missions($limit: Int!, $offset: Int!) {
  page: missions(limit: $limit, offset: $offset) {
    id
    name
    description
    manufacturers
    payloads { id }
    twitter
    website
    wikipedia
  }
}
"""

ROCKETS: Final = """
query Rockets($limit: Int!, $offset: Int!) {
  page: rockets(limit: $limit, offset: $offset) {
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
  }
}
"""
