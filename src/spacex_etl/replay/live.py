"""The live server's resolvers: r/SpaceX v4 records remapped to the old schema, quirks included.

What `https://spacex-production.up.railway.app/` serves (apollographql/spacex, read field by field
in docs/live-api.md): 24-hex ids, a launch's `mission_id` holding its own id, no missions,
`launch_success`, `launch_site`, `is_tentative`, `tentative_max_precision` and the mission patches
always null; `sort` and `order` ignored. The 2023 revision (`Datasets.revision`) adds the
paging that answered `slice(offset, limit)` and a field error on every launch's `launch_year`.
The 3 s wait of the `upcoming` resolver is applied per request by the app (see `server.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from graphql import GraphQLError, GraphQLSchema

from spacex_etl.replay.dataset import Record
from spacex_etl.replay.schema import Info, Resolver, bind_schema, record_key

_PAGING_ERROR: Final = "Limit/Offset must be a non-negative integer"
_LAUNCH_YEAR_ERROR_2023: Final = "launch.date_local.splice is not a function"


def _page(info: Info, records: Sequence[Record], args: Mapping[str, Any]) -> list[Record]:
    # An argument given as null is an error; one not given at all means "from the start, all".
    for name in ("limit", "offset"):
        if name in args and (args[name] is None or args[name] < 0):
            raise GraphQLError(_PAGING_ERROR)
    limit, given_offset = info.context.paging_arguments(args.get("limit"), args.get("offset"))
    offset = given_offset or 0
    revision = info.context.revision
    if revision == "2023" and limit and offset:
        # The bug live until 2023-11-29: slice's second argument taken as a length.
        return list(records[offset:] if limit + offset > len(records) else records[offset:limit])
    if limit is None or (revision == "2023" and not limit):
        return list(records[offset:])
    return list(records[offset : offset + limit])


def _launches(_source: object, info: Info, **args: Any) -> list[Record]:
    return _page(info, info.context.launches.records, args)


def _rockets(_source: object, info: Info, **args: Any) -> list[Record]:
    return _page(info, info.context.rockets.records, args)


def _nothing(_source: object, _info: Info) -> None:
    return None


def _no_missions(_source: object, _info: Info, **_args: Any) -> list[Record]:
    return []


def _own_id_as_mission(source: Record, _info: Info) -> list[Any]:
    return [source.get("id")]


def _launch_year(source: Record, info: Info) -> str | None:
    if info.context.revision == "2023":
        raise GraphQLError(_LAUNCH_YEAR_ERROR_2023)
    local = source.get("date_local")
    return local[:4] if isinstance(local, str) else None


def _launch_rocket(source: Record, info: Info) -> dict[str, Any] | None:
    rocket_id = source.get("rocket")
    if rocket_id is None:
        return None
    rocket = info.context.rockets.by_id(str(rocket_id)) or {"id": rocket_id}
    return {"rocket_name": rocket.get("name"), "rocket_type": rocket.get("type"), "rocket": rocket}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _links(source: Record, _info: Info) -> dict[str, Any] | None:
    links = source.get("links")
    if not isinstance(links, dict):
        return None
    reddit = _object(links.get("reddit"))
    flickr = _object(links.get("flickr"))
    return {
        "article_link": links.get("article"),
        "flickr_images": flickr.get("original"),
        # v4 keeps the patches in links.patch, which the live mapping never reads.
        "mission_patch": None,
        "mission_patch_small": None,
        "presskit": links.get("presskit"),
        "reddit_campaign": reddit.get("campaign"),
        "reddit_launch": reddit.get("launch"),
        "reddit_media": reddit.get("media"),
        "reddit_recovery": reddit.get("recovery"),
        "video_link": links.get("webcast"),
        "wikipedia": links.get("wikipedia"),
    }


_RESOLVERS: Final[Mapping[tuple[str, str], Resolver]] = {
    ("Query", "launches"): _launches,
    ("Query", "missions"): _no_missions,
    ("Query", "rockets"): _rockets,
    ("Launch", "mission_name"): record_key("name"),
    ("Launch", "mission_id"): _own_id_as_mission,
    ("Launch", "launch_year"): _launch_year,
    ("Launch", "launch_date_unix"): record_key("date_unix"),
    ("Launch", "launch_date_utc"): record_key("date_utc"),
    ("Launch", "launch_date_local"): record_key("date_local"),
    # The resolver reads `launch_success`; v4 calls it `success`. The others have no v4 key.
    ("Launch", "launch_success"): _nothing,
    ("Launch", "is_tentative"): _nothing,
    ("Launch", "tentative_max_precision"): _nothing,
    ("Launch", "launch_site"): _nothing,
    ("Launch", "rocket"): _launch_rocket,
    ("Launch", "links"): _links,
}

LIVE_SCHEMA: Final[GraphQLSchema] = bind_schema(_RESOLVERS)
