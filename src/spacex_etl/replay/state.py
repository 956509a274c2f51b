"""Everything a replay server knows: its datasets, active faults and request counters."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypedDict

from graphql import GraphQLSchema

from spacex_etl.entities import ENTITIES, Entity

from .dataset import (
    ID_KEYS,
    DataError,
    Dataset,
    Datasets,
    Profile,
    Record,
    Revision,
    load_recorded,
)
from .execution import RootField
from .faults import Fault, parse_fault
from .injection import FaultBook, FaultPlan
from .live import LIVE_SCHEMA
from .schema import SCHEMA

# What the live server's `upcoming` resolver sleeps before it answers.
LIVE_UPCOMING_DELAY_S = 3.0


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
        self.schema: Final[GraphQLSchema] = LIVE_SCHEMA if profile == "live" else SCHEMA
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

    @classmethod
    def recorded(cls, profile: Profile = "v3") -> ReplayState:
        """A state serving the real recorded data of `profile` shipped with the package."""
        return cls(profile=profile)

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
            counts = dict(self._counts)
        return RequestCounts(
            launches=counts["launches"],
            missions=counts["missions"],
            rockets=counts["rockets"],
            total=counts["total"],
        )

    def _dataset(self, entity: Entity, records: Iterable[Mapping[str, Any]] | None) -> Dataset:
        if records is None:
            records = load_recorded(entity, self.profile)
        return Dataset(entity, records, id_key=ID_KEYS[self.profile][entity])

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


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys((*ENTITIES, "total"), 0)
