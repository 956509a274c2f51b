"""Faults the replay server can inject, as pydantic models (a union tagged by `kind`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from spacex_etl.entities import Entity

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

FAULT_ADAPTER: Final[TypeAdapter[Fault]] = TypeAdapter(Fault)


def parse_fault(value: Fault | Mapping[str, Any]) -> Fault:
    """A fault model from its JSON shape (or the model itself); raises pydantic.ValidationError."""
    return FAULT_ADAPTER.validate_python(value)
