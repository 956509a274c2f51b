"""The active fault list: which faults fire on a request, and record mutations in a response."""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from spacex_etl.entities import Entity

from .dataset import Paging
from .execution import RootField
from .faults import Fault, IgnorePagingFault, LatencyFault, MutateRecordFault, ResponseFault


@dataclass
class _Armed:
    """A fault with how many requests matched it and how many it fired on."""

    fault: Fault
    matched: int = 0
    fired: int = 0

    def fires(self) -> bool:
        """Count one matching request; True when the fault fires on it."""
        self.matched += 1
        if self.matched <= self.fault.after:
            return False
        if self.fault.times is not None and self.fired >= self.fault.times:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request before answering: wait, then maybe answer with a fault."""

    delay_seconds: float = 0.0
    response: ResponseFault | None = None
    paging: Paging = "honoured"


class FaultBook:
    """Ordered list of active faults; thread-safe, as the app and tests run on separate threads."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def faults(self) -> list[Fault]:
        with self._lock:
            return [armed.fault for armed in self._armed]

    def plan(self, entities: Collection[Entity]) -> FaultPlan:
        """Decide the latency and response faults for a request touching `entities`.

        Faults are taken in the order they were added. Latencies add up; of the response faults
        only the first that fires counts the request, so two faults queue one after the other.
        """
        delay = 0.0
        response: ResponseFault | None = None
        paging: Paging = "honoured"
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if isinstance(fault, MutateRecordFault):
                    continue
                if fault.entity is not None and fault.entity not in entities:
                    continue
                if isinstance(fault, LatencyFault):
                    if armed.fires():
                        delay += fault.seconds
                elif isinstance(fault, IgnorePagingFault):
                    if armed.fires():
                        paging = "ignored" if fault.ignore == "both" else "offset_ignored"
                elif response is None and armed.fires():
                    response = fault
        return FaultPlan(delay, response, paging)

    def mutate(self, body: dict[str, Any], fields: Sequence[RootField]) -> None:
        """Apply `mutate_record` faults to the records of `fields` in a response body, in place."""
        data = body.get("data")
        if not isinstance(data, dict):
            return
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if not isinstance(fault, MutateRecordFault):
                    continue
                targets = list(_records_with_id(data, fields, fault))
                if targets and armed.fires():
                    for record in targets:
                        _mutate(record, fault)


def _records_with_id(
    data: dict[str, Any], fields: Sequence[RootField], fault: MutateRecordFault
) -> Iterable[dict[str, Any]]:
    for field in fields:
        if field.entity is None or fault.entity not in (None, field.entity):
            continue
        value = data.get(field.response_key)
        for item in value if isinstance(value, list) else [value]:
            if (
                isinstance(item, dict)
                and item.get("id") is not None
                and str(item["id"]) == fault.id
            ):
                yield item


def _mutate(record: dict[str, Any], fault: MutateRecordFault) -> None:
    for path, value in fault.set.items():
        *parents, last = path.split(".")
        node = record
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        # A copy, so two responses never share (and mutate) one value object.
        node[last] = copy.deepcopy(value)
    for path in fault.unset:
        *parents, last = path.split(".")
        target: Any = record
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(last, None)
