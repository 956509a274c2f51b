"""Faults the replay server can inject: pydantic models (a union tagged by `kind`), and the active
fault list deciding which of them fire on a request and how they change its response."""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from spacex_etl.entities import Entity

# What a server does with `limit`/`offset`: honours them, or (a fault) ignores one or both.
Paging = Literal["honoured", "offset_ignored", "ignored"]

_DEFAULT_HTML: Final = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class _FaultBase(BaseModel):
    """Which requests a fault fires on: scoped to an entity, skipping `after`, at most `times`."""

    # extra=forbid: a misspelt option must be a 422, not a fault silently doing something else.
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: Entity | None = None
    after: int = Field(default=0, ge=0)
    times: int | None = Field(default=None, ge=0)


class LatencyFault(_FaultBase):
    """Delay the response by `seconds` (other faults still apply after the delay)."""

    kind: Literal["latency"] = "latency"
    seconds: float = Field(gt=0)


class HttpStatusFault(_FaultBase):
    """Answer `status` with `body` (text/plain) and, when given, a `Retry-After` header."""

    kind: Literal["http_status"] = "http_status"
    status: int = Field(ge=200, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    body: str = ""


class GraphQLErrorFault(_FaultBase):
    """Answer 200 with `{"data": null, "errors": [{"message": message}]}`."""

    kind: Literal["graphql_error"] = "graphql_error"
    message: str = "Internal server error"


class MalformedJsonFault(_FaultBase):
    """Answer 200 as application/json with a body that is not JSON."""

    kind: Literal["malformed_json"] = "malformed_json"
    body: str = '{"data": {"page": [undefined'


class TruncatedJsonFault(_FaultBase):
    """Answer 200 with the real JSON body cut in the middle."""

    kind: Literal["truncated_json"] = "truncated_json"


class HtmlErrorFault(_FaultBase):
    """Answer an HTML error page, as a proxy in front of the API would."""

    kind: Literal["html_error"] = "html_error"
    status: int = Field(default=502, ge=200, le=599)
    body: str = _DEFAULT_HTML


class DropConnectionFault(_FaultBase):
    """Send the headers (full Content-Length) and half the body, then close the connection."""

    kind: Literal["drop_connection"] = "drop_connection"


class IgnorePagingFault(_FaultBase):
    """Answer as a server that ignores `limit` and `offset` (`ignore="both"`, the whole list every
    time) or only `offset` (the first page every time)."""

    kind: Literal["ignore_paging"] = "ignore_paging"
    ignore: Literal["both", "offset"] = "both"


class MutateRecordFault(_FaultBase):
    """Change the record with GraphQL `id` in responses: dotted paths `set` to values, or `unset`.

    Only requests whose response holds that record count towards `after` and `times`.
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    kind: Literal["mutate_record"] = "mutate_record"
    id: str
    set: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


Fault = Annotated[
    LatencyFault
    | HttpStatusFault
    | GraphQLErrorFault
    | MalformedJsonFault
    | TruncatedJsonFault
    | HtmlErrorFault
    | DropConnectionFault
    | IgnorePagingFault
    | MutateRecordFault,
    Field(discriminator="kind"),
]

# Faults that answer instead of the GraphQL result, so the query need not even run.
CannedFault = HttpStatusFault | GraphQLErrorFault | MalformedJsonFault | HtmlErrorFault
# Faults that spoil the real GraphQL result on its way out.
DamagingFault = TruncatedJsonFault | DropConnectionFault
# Faults that replace the response; of these the first that fires on a request wins.
ResponseFault = CannedFault | DamagingFault

_FAULT_ADAPTER: Final[TypeAdapter[Fault]] = TypeAdapter(Fault)


def parse_fault(value: Fault | Mapping[str, Any]) -> Fault:
    """A fault model from its JSON shape (or the model itself); raises pydantic.ValidationError."""
    return _FAULT_ADAPTER.validate_python(value)


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

    def mutate(self, body: dict[str, Any], roots: Mapping[str, Entity]) -> None:
        """Apply `mutate_record` faults in a response body, in place, to the records under its
        `data` keys `roots` (response key → entity read)."""
        data = body.get("data")
        if not isinstance(data, dict):
            return
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if not isinstance(fault, MutateRecordFault):
                    continue
                targets = list(_records_with_id(data, roots, fault))
                if targets and armed.fires():
                    for record in targets:
                        _mutate(record, fault)


def _records_with_id(
    data: dict[str, Any], roots: Mapping[str, Entity], fault: MutateRecordFault
) -> Iterable[dict[str, Any]]:
    for response_key, entity in roots.items():
        if fault.entity not in (None, entity):
            continue
        value = data.get(response_key)
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
