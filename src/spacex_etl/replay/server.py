"""The replay server: a Starlette app (GraphQL at `/` and `/graphql`, control endpoints under
`/_replay`, the broken answers faults ask for) and uvicorn running it, blocking for the CLI or on
a background thread for tests.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, assert_never, cast

import orjson
import uvicorn
from graphql import GraphQLSchema
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from spacex_etl.entities import ENTITIES, Entity
from spacex_etl.replay.dataset import DataError, Profile, ReplayState
from spacex_etl.replay.faults import (
    CannedFault,
    DamagingFault,
    GraphQLErrorFault,
    HtmlErrorFault,
    HttpStatusFault,
    MalformedJsonFault,
    Paging,
    TruncatedJsonFault,
)
from spacex_etl.replay.live import LIVE_SCHEMA
from spacex_etl.replay.schema import SCHEMA, PreparedQuery, prepare, root_fields, run_query, selects

_JSON: Final = "application/json"
_SCHEMAS: Final[Mapping[Profile, GraphQLSchema]] = {"v3": SCHEMA, "live": LIVE_SCHEMA}
_STARTUP_TIMEOUT_SECONDS: Final = 30.0


# --- responses -----------------------------------------------------------------------------------


class _OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (fast on 100k-record pages); non-JSON values become strings."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


class _DroppedResponse(Response):
    """Promises the whole body in Content-Length, sends half, then lets the server drop the line."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002 - ASGI
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        # No final body message: the ASGI server sees an unfinished response and closes the
        # connection, so the client reads a short body (httpx: RemoteProtocolError).


def _canned_response(fault: CannedFault) -> Response:
    """The response a fault gives instead of running the query."""
    if isinstance(fault, HttpStatusFault):
        headers = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
        return Response(fault.body, fault.status, headers=headers, media_type="text/plain")
    if isinstance(fault, GraphQLErrorFault):
        return _OrjsonResponse({"data": None, "errors": [{"message": fault.message}]})
    if isinstance(fault, MalformedJsonFault):
        return Response(fault.body, 200, media_type=_JSON)
    if isinstance(fault, HtmlErrorFault):
        return Response(fault.body, fault.status, media_type="text/html")
    assert_never(fault)


def _damaged_response(fault: DamagingFault, body: bytes, status: int) -> Response:
    """The real response `body`, spoilt as the fault says."""
    if isinstance(fault, TruncatedJsonFault):
        return Response(body[: len(body) // 2], status, media_type=_JSON)
    return _DroppedResponse(body, status, media_type=_JSON)


# --- app ---------------------------------------------------------------------------------------


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
    app.state.replay = state if state is not None else ReplayState()
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
    roots: Mapping[str, Entity],
    paging: Paging,
) -> bytes:
    result = run_query(
        _SCHEMAS[state.profile],
        replace(state.datasets, paging=paging),
        prepared,
        graphql_request.variables,
        graphql_request.operation_name,
    )
    state.mutate_response(result, roots)
    return orjson.dumps(result)


async def _graphql(request: Request) -> Response:
    state = _state(request)
    graphql_request = _read_graphql_request(await request.body())
    prepared: PreparedQuery | None = None
    roots: dict[str, Entity] = {}
    if isinstance(graphql_request, _GraphQLRequest):
        prepared = prepare(graphql_request.query)
        roots = root_fields(prepared, graphql_request.operation_name)

    plan = state.begin_request(roots.values())
    delay = plan.delay_seconds
    if prepared is not None and state.upcoming_delay_s and selects(prepared, "upcoming"):
        delay += state.upcoming_delay_s
    if delay and not await _wait_unless_disconnected(request, delay):
        return Response(status_code=499)  # nobody is listening any more
    fault = plan.response
    if isinstance(fault, CannedFault):
        return _canned_response(fault)

    if isinstance(graphql_request, str) or prepared is None:
        status, body = 400, orjson.dumps({"errors": [{"message": graphql_request}]})
    else:
        # In a worker thread: a page of 100k records must not stall the control endpoints.
        status = 200
        body = await run_in_threadpool(
            _execute, state, graphql_request, prepared, roots, plan.paging
        )
    if fault is not None:
        return _damaged_response(fault, body, status)
    return Response(body, status, media_type=_JSON)


async def _health(_request: Request) -> Response:
    return _OrjsonResponse({"status": "ok"})


def _error(status: int, detail: Any) -> Response:
    return _OrjsonResponse({"detail": detail}, status_code=status)


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
    return _OrjsonResponse({"entity": entity, "count": count})


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
    return _OrjsonResponse({"status": "reset"})


async def _faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.clear_faults()
        return _OrjsonResponse({"status": "cleared"})
    if request.method == "GET":
        return _OrjsonResponse([fault.model_dump(mode="json") for fault in state.faults()])
    try:
        fault = state.add_fault(orjson.loads(await request.body()))
    except orjson.JSONDecodeError as error:
        return _error(422, f"body is not JSON: {error}")
    except ValidationError as error:
        return _error(422, error.errors(include_url=False, include_context=False))
    return _OrjsonResponse(fault.model_dump(mode="json"), status_code=201)


async def _requests(request: Request) -> Response:
    return _OrjsonResponse(_state(request).requests())


# --- uvicorn -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayServer:
    """A replay server running in this process: where it listens and the state it serves."""

    url: str
    state: ReplayState
    host: str
    port: int


def serve(
    sock: socket.socket, *, state: ReplayState | None = None, log_level: str = "info"
) -> None:
    """Serve `state` (the recorded v3 data when None) as the SpaceX GraphQL API on a bound
    socket until interrupted (Ctrl-C, SIGTERM). Its lines go through the process's logging."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        lifespan="off",
        ws="none",
    )
    logging.getLogger(__name__).info("replay server on http://%s:%d/", host, port)
    uvicorn.Server(config).run(sockets=[sock])


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that sets `ready` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


def _run(server: uvicorn.Server, sock: socket.socket, ready: threading.Event) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        # Also on a failed start, so the waiting thread wakes up and reports it.
        ready.set()


@contextmanager
def serving_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", *, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve any ASGI app on a free port in a background thread; yields its base URL."""
    # Binding port 0 ourselves gives a free ephemeral port without a race against other tests.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        ws="none",
        log_config=None,
        access_log=False,
        # Requests still sleeping in a latency fault must not hold up the end of a test.
        timeout_graceful_shutdown=1,
    )
    ready = threading.Event()
    server = _SignallingServer(config, ready)
    thread = threading.Thread(
        target=_run, args=(server, sock, ready), name=f"replay-server-{port}", daemon=True
    )
    thread.start()
    try:
        if not ready.wait(_STARTUP_TIMEOUT_SECONDS) or not server.started:
            raise RuntimeError(f"server on {host}:{port} did not start")
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT_SECONDS)
        sock.close()


@contextmanager
def running_replay_server(
    state: ReplayState | None = None, host: str = "127.0.0.1"
) -> Iterator[ReplayServer]:
    """Run a replay server on a free port in a background thread for the `with` block."""
    state = state if state is not None else ReplayState()
    with serving_in_thread(create_app(state), host, lifespan="off") as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        yield ReplayServer(url=url, state=state, host=host, port=port)
