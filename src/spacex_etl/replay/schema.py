"""The SpaceX Land GraphQL schema (the part we replay, in schema.graphql) bound to v3 resolvers.

Resolvers read `Datasets` from the execution context; record fields whose GraphQL name equals the
v3 key need no resolver, graphql-core's default one reads them from the dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from typing import Any, Final

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
)

from spacex_etl.entities import Entity

from .dataset import ID_KEYS, Datasets, Record, dotted_get, record_id

SDL: Final = (files("spacex_etl.replay") / "schema.graphql").read_text(encoding="utf-8")

# Root fields of the schema, by the entity whose dataset they read.
ROOT_FIELD_ENTITIES: Final[Mapping[str, Entity]] = {
    "launches": "launches",
    "launchesPast": "launches",
    "launchesUpcoming": "launches",
    "launch": "launches",
    "missions": "missions",
    "mission": "missions",
    "rockets": "rockets",
    "rocket": "rockets",
}

# `find` input fields → the v3 path they compare with (list values match when they contain it).
_LAUNCH_FIND: Final[Mapping[str, str]] = {
    "id": "flight_number",
    "mission_id": "mission_id",
    "mission_name": "mission_name",
    "launch_year": "launch_year",
    "rocket_id": "rocket.rocket_id",
    "site_id": "launch_site.site_id",
}
_MISSION_FIND: Final[Mapping[str, str]] = {
    "id": "mission_id",
    "name": "mission_name",
    "manufacturer": "manufacturers",
    "payload_id": "payload_ids",
}

_FEET_PER_METER: Final = 3.28084
_LB_PER_KG: Final = 2.20462
_LBF_PER_KN: Final = 224.809

Resolver = Callable[..., Any]
# Resolvers get the served `Datasets` as the execution context.
Info = GraphQLResolveInfo[Datasets]


def _get(source: object, key: str) -> Any:
    return source.get(key) if isinstance(source, Mapping) else None


def _is_descending(order: str | None) -> bool:
    if order is None or order.lower() == "asc":
        return False
    if order.lower() == "desc":
        return True
    raise GraphQLError(f"order must be 'asc' or 'desc', got {order!r}")


def _page(
    info: Info, records: Sequence[Record], limit: int | None, offset: int | None
) -> list[Record]:
    limit, offset = info.context.paging_arguments(limit, offset)
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise GraphQLError("limit and offset must not be negative")
    start = offset or 0
    # A limit of 0 means no limit, as in MongoDB behind the real API.
    end = start + limit if limit else None
    return list(records[start:end])


def _matches(record: Record, find: Mapping[str, Any], paths: Mapping[str, str]) -> bool:
    for name, wanted in find.items():
        if wanted is None:
            continue
        actual = dotted_get(record, paths[name])
        if isinstance(actual, list):
            if str(wanted) not in (str(item) for item in actual):
                return False
        elif actual is None or str(actual) != str(wanted):
            return False
    return True


def _filtered(
    records: Sequence[Record], find: Mapping[str, Any] | None, paths: Mapping[str, str]
) -> Sequence[Record]:
    if not find or all(value is None for value in find.values()):
        return records
    return [record for record in records if _matches(record, find, paths)]


def _launch_list(upcoming: bool | None) -> Resolver:
    def resolve(
        _source: object,
        info: Info,
        find: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        order: str | None = None,
        sort: str | None = None,
    ) -> list[Record]:
        records = info.context.launches.ordered(sort, descending=_is_descending(order))
        if upcoming is not None:
            records = [r for r in records if bool(r.get("upcoming")) is upcoming]
        return _page(info, _filtered(records, find, _LAUNCH_FIND), limit, offset)

    return resolve


def _resolve_missions(
    _source: object,
    info: Info,
    find: Mapping[str, Any] | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> list[Record]:
    records = info.context.missions.records
    return _page(info, _filtered(records, find, _MISSION_FIND), limit, offset)


def _resolve_rockets(
    _source: object, info: Info, limit: int | None = None, offset: int | None = None
) -> list[Record]:
    return _page(info, info.context.rockets.records, limit, offset)


def _one(entity: Entity) -> Resolver:
    def resolve(_source: object, info: Info, **args: Any) -> Record | None:
        return info.context.of(entity).by_id(str(args["id"]))

    return resolve


def _record_id(entity: Entity) -> Resolver:
    def resolve(source: object, _info: Info) -> str | None:
        return record_id(ID_KEYS["v3"][entity], source) if isinstance(source, Mapping) else None

    return resolve


def _key(key: str) -> Resolver:
    def resolve(source: object, _info: Info) -> Any:
        return _get(source, key)

    return resolve


def _converted(key: str, base: str, factor: float, *, whole: bool) -> Resolver:
    """A unit the v3 record may lack (feet, lb, lbf), derived from its metric twin."""

    def resolve(source: object, _info: Info) -> Any:
        given = _get(source, key)
        if given is not None:
            return given
        metric = _get(source, base)
        if isinstance(metric, bool) or not isinstance(metric, int | float):
            return None
        value = metric * factor
        return round(value) if whole else round(value, 1)

    return resolve


def _resolve_payloads(source: object, _info: Info) -> list[dict[str, Any]] | None:
    payload_ids = _get(source, "payload_ids")
    if not isinstance(payload_ids, list):
        return None
    return [{"id": payload_id} for payload_id in payload_ids]


def _resolve_launch_rocket(source: object, info: Info) -> Record | None:
    rocket_id = _get(source, "rocket_id")
    if rocket_id is None:
        return None
    # A launch may name a rocket the rockets dataset lacks; the id alone is still true.
    return info.context.rockets.by_id(str(rocket_id)) or {"rocket_id": rocket_id}


def _serialize_date(value: Any) -> str | int | float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise GraphQLError(f"Date cannot represent value: {value!r}")


_RESOLVERS: Final[Mapping[tuple[str, str], Resolver]] = {
    ("Query", "launches"): _launch_list(upcoming=None),
    ("Query", "launchesPast"): _launch_list(upcoming=False),
    ("Query", "launchesUpcoming"): _launch_list(upcoming=True),
    ("Query", "launch"): _one("launches"),
    ("Query", "missions"): _resolve_missions,
    ("Query", "mission"): _one("missions"),
    ("Query", "rockets"): _resolve_rockets,
    ("Query", "rocket"): _one("rockets"),
    ("Launch", "id"): _record_id("launches"),
    ("LaunchRocket", "rocket"): _resolve_launch_rocket,
    ("Mission", "id"): _record_id("missions"),
    ("Mission", "name"): _key("mission_name"),
    ("Mission", "payloads"): _resolve_payloads,
    ("Rocket", "id"): _record_id("rockets"),
    ("Rocket", "name"): _key("rocket_name"),
    ("Rocket", "type"): _key("rocket_type"),
    ("Distance", "feet"): _converted("feet", "meters", _FEET_PER_METER, whole=False),
    ("Mass", "lb"): _converted("lb", "kg", _LB_PER_KG, whole=True),
    ("RocketPayloadWeight", "lb"): _converted("lb", "kg", _LB_PER_KG, whole=True),
    ("Force", "lbf"): _converted("lbf", "kN", _LBF_PER_KN, whole=True),
}


def bind_schema(resolvers: Mapping[tuple[str, str], Resolver]) -> GraphQLSchema:
    """An executable schema: the SDL with `resolvers` and the Date scalar bound."""
    schema = build_schema(SDL)
    for (type_name, field_name), resolve in resolvers.items():
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        object_type.fields[field_name].resolve = resolve
    date = schema.get_type("Date")
    assert isinstance(date, GraphQLScalarType)
    date.coerce_output_value = _serialize_date
    return schema


SCHEMA: Final = bind_schema(_RESOLVERS)
