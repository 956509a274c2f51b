"""The served GraphQL schema (schema.graphql): binding resolvers to it, running requests on it,
and the v3 profile's resolvers (the live profile's are in live.py).

Resolvers read `Datasets` from the execution context; record fields whose GraphQL name equals the
v3 key need no resolver, graphql-core's default one reads them from the dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)

from spacex_etl.entities import ENTITIES, Entity
from spacex_etl.replay.dataset import ID_KEYS, Datasets, Record, record_id

SDL: Final = (files("spacex_etl.replay") / "schema.graphql").read_text(encoding="utf-8")

_FEET_PER_METER: Final = 3.28084
_LB_PER_KG: Final = 2.20462

Resolver = Callable[..., Any]
# Resolvers get the served `Datasets` as the execution context.
Info = GraphQLResolveInfo[Datasets]


def _serialize_date(value: Any) -> str | int | float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise GraphQLError(f"Date cannot represent value: {value!r}")


def bind_schema(resolvers: Mapping[tuple[str, str], Resolver]) -> GraphQLSchema:
    """An executable schema: the SDL with `resolvers` and the Date scalar bound."""
    schema = build_schema(SDL)
    for (type_name, field_name), resolve in resolvers.items():
        object_type = schema.get_type(type_name)
        if not isinstance(object_type, GraphQLObjectType):
            raise TypeError(f"{type_name} is not an object type of schema.graphql")
        object_type.fields[field_name].resolve = resolve
    date = schema.get_type("Date")
    if not isinstance(date, GraphQLScalarType):
        raise TypeError("Date is not a scalar of schema.graphql")
    date.coerce_output_value = _serialize_date
    return schema


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedQuery:
    """A parsed and validated document; `errors` holds syntax or validation errors, if any."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


@lru_cache(maxsize=256)
def prepare(query: str) -> PreparedQuery:
    """Parse and validate once per distinct query text: clients repeat the same paged document."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return PreparedQuery(None, (error,))
    # Both profiles bind the same SDL: validating against one schema serves both.
    return PreparedQuery(document, tuple(validate(SCHEMA, document)))


def root_fields(prepared: PreparedQuery, operation_name: str | None) -> dict[str, Entity]:
    """The entity each root field of the chosen operation reads (through fragments too), by the
    key its value has in the response `data`."""
    if prepared.document is None:
        return {}
    operations = [
        node
        for node in prepared.document.definitions
        if isinstance(node, OperationDefinitionNode)
        and (
            operation_name is None or (node.name is not None and node.name.value == operation_name)
        )
    ]
    if len(operations) != 1:
        return {}
    fragments = {
        node.name.value: node
        for node in prepared.document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    found: dict[str, Entity] = {}
    _collect(operations[0].selection_set, fragments, set(), found)
    return found


def _collect(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    visited: set[str],
    found: dict[str, Entity],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            # Each entity's root field is named after it (`__typename` reads none).
            for entity in ENTITIES:
                if selection.name.value == entity:
                    found[selection.alias.value if selection.alias else entity] = entity
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, visited, found)
        elif isinstance(selection, FragmentSpreadNode):
            fragment_name = selection.name.value
            # Documents are analysed before validation: a fragment cycle must not recurse forever.
            if fragment_name in fragments and fragment_name not in visited:
                visited.add(fragment_name)
                _collect(fragments[fragment_name].selection_set, fragments, visited, found)


def selects(prepared: PreparedQuery, field_name: str) -> bool:
    """Whether the document asks for `field_name` anywhere (the live server's slow field)."""
    if prepared.document is None:
        return False
    return any(
        isinstance(node, FieldNode) and node.name.value == field_name
        for node in _walk(prepared.document)
    )


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for key in node.keys:
        value = getattr(node, key, None)
        children = value if isinstance(value, tuple | list) else (value,)
        for child in children:
            if isinstance(child, Node):
                yield from _walk(child)


def run_query(
    schema: GraphQLSchema,
    datasets: Datasets,
    prepared: PreparedQuery,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
) -> dict[str, Any]:
    """The GraphQL response body as a dict: `data`, plus `errors` only when there are some."""
    if prepared.document is None or prepared.errors:
        # Errors before execution: the spec says the response then has no `data` entry.
        return {"errors": [error.formatted for error in prepared.errors]}
    result = execute_sync(
        schema,
        prepared.document,
        context_value=datasets,
        variable_values=dict(variables) if variables is not None else None,
        operation_name=operation_name,
    )
    return dict(result.formatted)


# --- v3 resolvers --------------------------------------------------------------------------------


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


def _resolve_launches(
    _source: object,
    info: Info,
    limit: int | None = None,
    offset: int | None = None,
    order: str | None = None,
    sort: str | None = None,
) -> list[Record]:
    records = info.context.launches.ordered(sort, descending=_is_descending(order))
    return _page(info, records, limit, offset)


def _list(entity: Entity) -> Resolver:
    def resolve(
        _source: object, info: Info, limit: int | None = None, offset: int | None = None
    ) -> list[Record]:
        return _page(info, info.context.of(entity).records, limit, offset)

    return resolve


def _record_id(entity: Entity) -> Resolver:
    def resolve(source: object, _info: Info) -> str | None:
        return record_id(ID_KEYS["v3"][entity], source) if isinstance(source, Mapping) else None

    return resolve


def record_key(key: str) -> Resolver:
    """A resolver answering the record's `key` (None when the parent is not a record)."""

    def resolve(source: object, _info: Info) -> Any:
        return _get(source, key)

    return resolve


def _converted(key: str, base: str, factor: float, *, whole: bool) -> Resolver:
    """A unit the v3 record may lack (feet, lb), derived from its metric twin."""

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


_RESOLVERS: Final[Mapping[tuple[str, str], Resolver]] = {
    ("Query", "launches"): _resolve_launches,
    ("Query", "missions"): _list("missions"),
    ("Query", "rockets"): _list("rockets"),
    ("Launch", "id"): _record_id("launches"),
    ("LaunchRocket", "rocket"): _resolve_launch_rocket,
    ("Mission", "id"): _record_id("missions"),
    ("Mission", "name"): record_key("mission_name"),
    ("Mission", "payloads"): _resolve_payloads,
    ("Rocket", "id"): _record_id("rockets"),
    ("Rocket", "name"): record_key("rocket_name"),
    ("Rocket", "type"): record_key("rocket_type"),
    ("Distance", "feet"): _converted("feet", "meters", _FEET_PER_METER, whole=False),
    ("Mass", "lb"): _converted("lb", "kg", _LB_PER_KG, whole=True),
}

SCHEMA: Final = bind_schema(_RESOLVERS)
