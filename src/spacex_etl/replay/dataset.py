"""The records the replay server serves, per entity, with id lookup and ordering.

Two profiles of recorded data: `v3`, the original SpaceX Land records (a launch's id is its
flight number), and `live`, the r/SpaceX v4 records the live server remaps (24-hex ids).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final, Literal, get_args

import orjson

from spacex_etl.entities import ENTITIES, Entity

Profile = Literal["live", "v3"]
PROFILES: Final[tuple[Profile, ...]] = get_args(Profile)
# Revisions of the live server: today's, and the 2023 one with broken paging and launch_year.
Revision = Literal["current", "2023"]
REVISIONS: Final[tuple[Revision, ...]] = get_args(Revision)

Record = dict[str, Any]

# What a server does with `limit`/`offset`: honours them, or (a fault) ignores one or both.
Paging = Literal["honoured", "offset_ignored", "ignored"]

# The key behind each entity's GraphQL `id`, per profile.
ID_KEYS: Final[Mapping[Profile, Mapping[Entity, str]]] = {
    "v3": {"launches": "flight_number", "missions": "mission_id", "rockets": "rocket_id"},
    "live": dict.fromkeys(ENTITIES, "id"),
}

# GraphQL field names that differ from the v3 key, so `sort` accepts either spelling.
_SORT_ALIASES: Final[Mapping[Entity, Mapping[str, str]]] = {
    "launches": {"id": "flight_number"},
    "missions": {"id": "mission_id", "name": "mission_name", "payloads": "payload_ids"},
    "rockets": {"id": "rocket_id", "name": "rocket_name", "type": "rocket_type"},
}


class DataError(ValueError):
    """A dataset that is not a list of JSON objects."""


def record_id(id_key: str, record: Mapping[str, Any]) -> str | None:
    """The GraphQL `id` of a record: its `id_key` value as text (a v3 flight number, say)."""
    value = record.get(id_key)
    return None if value is None else str(value)


def dotted_get(record: Mapping[str, Any], path: str) -> Any:
    """The value at `a.b.c` in nested objects, or None when any step is missing."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Ranks keep mixed types comparable (a test may store a string flight number); None first,
    # as MongoDB orders nulls behind the real API.
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


class Dataset:
    """One entity's records, in stored order, with cached id index and sorted views."""

    def __init__(self, entity: Entity, records: Iterable[Any], *, id_key: str) -> None:
        items = tuple(records)
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise DataError(f"{entity}[{position}] is {type(item).__name__}, not an object")
        self.entity: Final = entity
        self.id_key: Final = id_key
        self.records: Final[tuple[Record, ...]] = tuple(dict(item) for item in items)
        self._by_id: dict[str, Record] | None = None
        self._views: dict[tuple[str, bool], list[Record]] = {}
        # Views are built on executor threads; the lock keeps 100k-record sorts from running twice.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.records)

    def by_id(self, id_: str) -> Record | None:
        """The record whose GraphQL id is `id_` (the first one, should ids repeat)."""
        with self._lock:
            if self._by_id is None:
                index: dict[str, Record] = {}
                for record in self.records:
                    key = record_id(self.id_key, record)
                    if key is not None:
                        index.setdefault(key, record)
                self._by_id = index
            return self._by_id.get(id_)

    def ordered(self, sort: str | None, *, descending: bool) -> Sequence[Record]:
        """Records sorted by a v3 or GraphQL field name (dotted if nested); stored order if None."""
        if sort is None:
            return self.records[::-1] if descending else self.records
        path = _SORT_ALIASES[self.entity].get(sort, sort)
        with self._lock:
            view = self._views.get((path, descending))
            if view is None:
                view = sorted(
                    self.records,
                    key=lambda record: _sort_key(dotted_get(record, path)),
                    reverse=descending,
                )
                self._views[(path, descending)] = view
            return view


@dataclass(frozen=True)
class Datasets:
    """The three datasets served together, and the server revision serving them (the resolvers'
    context); replaced whole, never changed in place."""

    launches: Dataset
    missions: Dataset
    rockets: Dataset
    revision: Revision = "current"
    paging: Paging = "honoured"

    def of(self, entity: Entity) -> Dataset:
        dataset: Dataset = getattr(self, entity)
        return dataset

    def replacing(self, dataset: Dataset) -> Datasets:
        """A copy with `dataset` in place of the one of its entity."""
        parts = {name: self.of(name) for name in ENTITIES}
        parts[dataset.entity] = dataset
        return Datasets(**parts, revision=self.revision, paging=self.paging)

    def paging_arguments(
        self, limit: int | None, offset: int | None
    ) -> tuple[int | None, int | None]:
        """`limit` and `offset` as this server takes them (a fault may ignore them)."""
        if self.paging == "ignored":
            return None, None
        return (limit, None) if self.paging == "offset_ignored" else (limit, offset)


def _data(profile: Profile) -> Traversable:
    return files("spacex_etl.replay") / "data" / profile


def load_recorded(entity: Entity, profile: Profile = "v3") -> list[Record]:
    """The real records shipped in the package (via importlib.resources: any install works).

    The live server has no missions of its own: its profile ships none.
    """
    path = _data(profile) / f"{entity}.json"
    if not path.is_file():
        return []
    records: list[Record] = orjson.loads(path.read_bytes())
    return records


def reference_counts(profile: Profile) -> dict[str, int]:
    """The data mart a full load of `profile`'s recorded data must give (see its SOURCES.md)."""
    counts: dict[str, int] = orjson.loads((_data(profile) / "reference_counts.json").read_bytes())
    return counts
