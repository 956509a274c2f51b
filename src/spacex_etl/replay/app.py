"""The replay ASGI app: GraphQL at `/` and `/graphql`, control endpoints under `/_replay`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacex_etl.entities import ENTITIES, Entity

from .dataset import DataError, Paging
from .execution import PreparedQuery, RootField, prepare, root_fields, run_query, selects
from .faults import CannedFault
from .responses import JSON_MEDIA_TYPE, OrjsonResponse, canned_response, damaged_response
from .state import ReplayState


@dataclass(frozen=True)
class _GraphQLRequest:
    query: str
    variables: Mapping[str, Any] | None
    operation_name: str | None


def create_app(state: ReplayState | None = None) -> Starlette:
    """The replay ASGI app over `state` (the recorded real data when None)."""
    app = Starlette(
        routes=[
            Route("/", _graphql, methods=["POST"]),
            Route("/graphql", _graphql, methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
            Route("/_replay/data/{entity}", _put_data, methods=["PUT"]),
            Route("/_replay/reset", _reset, methods=["POST"]),
            Route("/_replay/faults", _faults, methods=["GET", "POST", "DELETE"]),
            Route("/_replay/requests", _requests, methods=["GET"]),
        ]
    )
    app.state.replay = state if state is not None else ReplayState.recorded()
    return app


def _state(request: Request) -> ReplayState:
    return cast(ReplayState, request.app.state.replay)


def _read_graphql_request(body: bytes) -> _GraphQLRequest | str:
    """The GraphQL request in a POST body, or what is wrong with the body."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "request body is not JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return 'request body must be a JSON object with a "query" string'
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return '"variables" must be a JSON object'
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return '"operationName" must be a string'
    return _GraphQLRequest(payload["query"], variables, operation_name)


async def _wait_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep `seconds`; False when the client hung up first (no point answering it then)."""
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False


def _execute(
    state: ReplayState,
    graphql_request: _GraphQLRequest,
    prepared: PreparedQuery,
    fields: Sequence[RootField],
    paging: Paging,
) -> bytes:
    result = run_query(
        state.schema,
        replace(state.datasets, paging=paging),
        prepared,
        graphql_request.variables,
        graphql_request.operation_name,
    )
    state.mutate_response(result, fields)
    return orjson.dumps(result)


async def _graphql(request: Request) -> Response:
    state = _state(request)
    graphql_request = _read_graphql_request(await request.body())
    prepared: PreparedQuery | None = None
    fields: tuple[RootField, ...] = ()
    if isinstance(graphql_request, _GraphQLRequest):
        prepared = prepare(graphql_request.query)
        fields = root_fields(prepared, graphql_request.operation_name)

    plan = state.begin_request(fields)
    delay = plan.delay_seconds
    if prepared is not None and state.upcoming_delay_s and selects(prepared, "upcoming"):
        delay += state.upcoming_delay_s
    if delay and not await _wait_unless_disconnected(request, delay):
        return Response(status_code=499)  # nobody is listening any more
    fault = plan.response
    if isinstance(fault, CannedFault):
        return canned_response(fault)

    if isinstance(graphql_request, str) or prepared is None:
        status, body = 400, orjson.dumps({"errors": [{"message": graphql_request}]})
    else:
        # In a worker thread: a page of 100k records must not stall the control endpoints.
        status = 200
        body = await run_in_threadpool(
            _execute, state, graphql_request, prepared, fields, plan.paging
        )
    if fault is not None:
        return damaged_response(fault, body, status)
    return Response(body, status, media_type=JSON_MEDIA_TYPE)


async def _health(_request: Request) -> Response:
    return OrjsonResponse({"status": "ok"})


def _error(status: int, detail: Any) -> Response:
    return OrjsonResponse({"detail": detail}, status_code=status)


async def _put_data(request: Request) -> Response:
    entity = request.path_params["entity"]
    if entity not in ENTITIES:
        return _error(404, f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
    body = await request.body()
    try:
        # In a worker thread: parsing 100k records takes seconds the event loop must not lose.
        count = await run_in_threadpool(_replace_data, _state(request), cast(Entity, entity), body)
    except DataError as error:
        return _error(422, str(error))
    return OrjsonResponse({"entity": entity, "count": count})


def _replace_data(state: ReplayState, entity: Entity, body: bytes) -> int:
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise DataError(f"body is not JSON: {error}") from error
    if not isinstance(records, list):
        raise DataError("body must be a JSON list of records (objects)")
    state.set_data(entity, records)
    return len(records)


async def _reset(request: Request) -> Response:
    _state(request).reset()
    return OrjsonResponse({"status": "reset"})


async def _faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.clear_faults()
        return OrjsonResponse({"status": "cleared"})
    if request.method == "GET":
        return OrjsonResponse([fault.model_dump(mode="json") for fault in state.faults()])
    try:
        fault = state.add_fault(orjson.loads(await request.body()))
    except orjson.JSONDecodeError as error:
        return _error(422, f"body is not JSON: {error}")
    except ValidationError as error:
        return _error(422, error.errors(include_url=False, include_context=False))
    return OrjsonResponse(fault.model_dump(mode="json"), status_code=201)


async def _requests(request: Request) -> Response:
    return OrjsonResponse(_state(request).requests())
