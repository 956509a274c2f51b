"""Running a GraphQL request against the replay schema, and telling which root fields it reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    parse,
    validate,
)

from spacex_etl.entities import Entity

from .dataset import Datasets
from .schema import ROOT_FIELD_ENTITIES, SCHEMA


@dataclass(frozen=True)
class RootField:
    """A root field of the operation and the key its value has in the response `data`."""

    name: str
    response_key: str

    @property
    def entity(self) -> Entity | None:
        return ROOT_FIELD_ENTITIES.get(self.name)


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
    return PreparedQuery(document, tuple(validate(SCHEMA, document)))


def root_fields(prepared: PreparedQuery, operation_name: str | None) -> tuple[RootField, ...]:
    """The root fields the chosen operation selects (through fragments too), in document order."""
    if prepared.document is None:
        return ()
    operations = [
        node
        for node in prepared.document.definitions
        if isinstance(node, OperationDefinitionNode)
        and (
            operation_name is None or (node.name is not None and node.name.value == operation_name)
        )
    ]
    if len(operations) != 1:
        return ()
    fragments = {
        node.name.value: node
        for node in prepared.document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    found: list[RootField] = []
    _collect(operations[0].selection_set, fragments, set(), found)
    return tuple(found)


def _collect(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    visited: set[str],
    found: list[RootField],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            alias = selection.alias.value if selection.alias else name
            found.append(RootField(name, alias))
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
