"""Everything a replay server knows: its datasets, active faults and request counters."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

from .dataset import ENTITIES, DataError, Dataset, Datasets, Entity, Record, load_recorded
from .execution import RootField
from .faults import Fault, parse_fault
from .injection import FaultBook, FaultPlan


class RequestCounts(TypedDict):
    """GraphQL requests seen, per entity their root fields read, and in total."""

    launches: int
    missions: int
    rockets: int
    total: int


class ReplayState:
    """Datasets, faults and counters of one replay server; safe to use from any thread.

    Each entity starts from the given records, or from the recorded real data when not given;
    `reset()` returns to that start.
    """

    def __init__(
        self,
        *,
        launches: Iterable[Mapping[str, Any]] | None = None,
        missions: Iterable[Mapping[str, Any]] | None = None,
        rockets: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        self._initial = Datasets(
            launches=_starting_dataset("launches", launches),
            missions=_starting_dataset("missions", missions),
            rockets=_starting_dataset("rockets", rockets),
        )
        self._datasets = self._initial
        self._faults = FaultBook()
        self._counts = _zero_counts()
        self._lock = threading.Lock()
        self._request_seen = threading.Condition(self._lock)

    @classmethod
    def recorded(cls) -> ReplayState:
        """A state serving the real recorded data shipped with the package."""
        return cls()

    @property
    def datasets(self) -> Datasets:
        """The datasets now served (an immutable snapshot)."""
        return self._datasets

    def records(self, entity: Entity) -> Sequence[Record]:
        """The v3 records now served for `entity` (shared with the server: do not mutate)."""
        return self._datasets.of(entity).records

    def set_data(self, entity: Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Serve `records` (v3 shape) for `entity` from now on; raises DataError if not objects."""
        if entity not in ENTITIES:
            raise DataError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
        replacement = Dataset(entity, records)
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
            counts = dict(self._counts)
        return RequestCounts(
            launches=counts["launches"],
            missions=counts["missions"],
            rockets=counts["rockets"],
            total=counts["total"],
        )

    def begin_request(self, fields: Sequence[RootField]) -> FaultPlan:
        """Count a GraphQL request reading `fields`, then decide which faults fire on it."""
        entities = {field.entity for field in fields if field.entity is not None}
        with self._lock:
            self._counts["total"] += 1
            for entity in entities:
                self._counts[entity] += 1
            self._request_seen.notify_all()
        return self._faults.plan(entities)

    def wait_for_requests(self, entity: Entity, count: int, timeout: float) -> bool:
        """Block until `count` requests for `entity` have arrived; False on timeout.

        Lets a test act at a known point of a run (say, while page 2 is in flight).
        """
        with self._request_seen:
            return self._request_seen.wait_for(lambda: self._counts[entity] >= count, timeout)

    def mutate_response(self, body: dict[str, Any], fields: Sequence[RootField]) -> None:
        """Apply the `mutate_record` faults to a response body, in place."""
        self._faults.mutate(body, fields)


def _starting_dataset(entity: Entity, records: Iterable[Mapping[str, Any]] | None) -> Dataset:
    return Dataset(entity, load_recorded(entity) if records is None else records)


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys((*ENTITIES, "total"), 0)
