"""What a replay server serves: the recorded profiles, per-entity datasets, and its live state.

Two profiles of recorded data: `v3`, the original SpaceX Land records (a launch's id is its
flight number), and `live`, the r/SpaceX v4 records the live server remaps (24-hex ids).
`ReplayState` holds the datasets served now, the active faults and the request counters.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Final, Literal, TypedDict, get_args

import orjson

from spacex_etl.entities import ENTITIES, Entity
from spacex_etl.replay.faults import Fault, FaultBook, FaultPlan, Paging, parse_fault

Profile = Literal["live", "v3"]
PROFILES: Final[tuple[Profile, ...]] = get_args(Profile)
# Revisions of the live server: today's, and the 2023 one with broken paging and launch_year.
Revision = Literal["current", "2023"]

# What the live server's `upcoming` resolver sleeps before it answers.
LIVE_UPCOMING_DELAY_S = 3.0

Record = dict[str, Any]

# The key behind each entity's GraphQL `id`, per profile.
ID_KEYS: Final[Mapping[Profile, Mapping[Entity, str]]] = {
    "v3": {"launches": "flight_number", "missions": "mission_id", "rockets": "rocket_id"},
    "live": dict.fromkeys(ENTITIES, "id"),
}


class DataError(ValueError):
    """A dataset that is not a list of JSON objects."""


def record_id(id_key: str, record: Mapping[str, Any]) -> str | None:
    """The GraphQL `id` of a record: its `id_key` value as text (a v3 flight number, say)."""
    value = record.get(id_key)
    return None if value is None else str(value)


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
        """Records sorted by the record key `sort`; in stored order if None."""
        if sort is None:
            return self.records[::-1] if descending else self.records
        with self._lock:
            view = self._views.get((sort, descending))
            if view is None:
                view = sorted(
                    self.records, key=lambda record: _sort_key(record.get(sort)), reverse=descending
                )
                self._views[(sort, descending)] = view
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


class RequestCounts(TypedDict):
    """GraphQL requests seen, per entity their root fields read, and in total."""

    launches: int
    missions: int
    rockets: int
    total: int


class ReplayState:
    """Datasets, faults and counters of one replay server; safe to use from any thread.

    `profile` picks the recorded data and the server it imitates: `v3` (SpaceX Land) or `live`
    (what the default URL serves, at `revision`; a request asking for `upcoming` waits
    `upcoming_delay_s` there, as the live one does). Each entity starts from the given records
    (in the profile's shape), or from the recorded real data; `reset()` returns to that start.
    """

    def __init__(
        self,
        *,
        profile: Profile = "v3",
        revision: Revision = "current",
        upcoming_delay_s: float = LIVE_UPCOMING_DELAY_S,
        launches: Iterable[Mapping[str, Any]] | None = None,
        missions: Iterable[Mapping[str, Any]] | None = None,
        rockets: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        if profile == "v3" and revision != "current":
            raise DataError("revisions are the live server's: use them with the live profile")
        self.profile: Final = profile
        self.upcoming_delay_s: Final = upcoming_delay_s if profile == "live" else 0.0
        self._initial = Datasets(
            launches=self._dataset("launches", launches),
            missions=self._dataset("missions", missions),
            rockets=self._dataset("rockets", rockets),
            revision=revision,
        )
        self._datasets = self._initial
        self._faults = FaultBook()
        self._counts = _zero_counts()
        self._lock = threading.Lock()
        self._request_seen = threading.Condition(self._lock)

    @property
    def datasets(self) -> Datasets:
        """The datasets now served (an immutable snapshot)."""
        return self._datasets

    def records(self, entity: Entity) -> Sequence[Record]:
        """The records now served for `entity` (shared with the server: do not mutate)."""
        return self._datasets.of(entity).records

    def set_data(self, entity: Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Serve `records` (in the profile's shape) for `entity` from now on.

        Raises DataError when they are not objects.
        """
        if entity not in ENTITIES:
            raise DataError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
        replacement = self._dataset(entity, records)
        with self._lock:
            self._datasets = self._datasets.replacing(replacement)

    def reset(self) -> None:
        """Back to the starting data, with no faults and zeroed counters."""
        with self._lock:
            self._datasets = self._initial
            self._counts = _zero_counts()
        self._faults.clear()

    def add_fault(self, fault: Fault | Mapping[str, Any]) -> Fault:
        """Append a fault (model or its JSON shape) to the active list; returns the model."""
        model = parse_fault(fault)
        self._faults.add(model)
        return model

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[Fault]:
        return self._faults.faults()

    def requests(self) -> RequestCounts:
        with self._lock:
            return self._counts.copy()

    def _dataset(self, entity: Entity, records: Iterable[Mapping[str, Any]] | None) -> Dataset:
        if records is None:
            records = load_recorded(entity, self.profile)
        return Dataset(entity, records, id_key=ID_KEYS[self.profile][entity])

    def begin_request(self, entities: Collection[Entity]) -> FaultPlan:
        """Count a GraphQL request reading `entities`, then decide which faults fire on it."""
        with self._lock:
            self._counts["total"] += 1
            for entity in set(entities):
                self._counts[entity] += 1
            self._request_seen.notify_all()
        return self._faults.plan(entities)

    def wait_for_requests(self, entity: Entity, count: int, timeout: float) -> bool:
        """Block until `count` requests for `entity` have arrived; False on timeout.

        Lets a test act at a known point of a run (say, while page 2 is in flight).
        """
        with self._request_seen:
            return self._request_seen.wait_for(lambda: self._counts[entity] >= count, timeout)

    def mutate_response(self, body: dict[str, Any], roots: Mapping[str, Entity]) -> None:
        """Apply the `mutate_record` faults to a response body (its `data` keys `roots` read
        those entities), in place."""
        self._faults.mutate(body, roots)


def _zero_counts() -> RequestCounts:
    return RequestCounts(launches=0, missions=0, rockets=0, total=0)
