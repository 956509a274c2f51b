"""Replay server: the recorded real SpaceX data served as the SpaceX Land GraphQL API, with faults.

`spacex-etl replay` runs it for demos and offline runs; tests start one with
`running_replay_server()` and steer it through `ReplayState` (in-process) or `ReplayControl`.
"""

from spacex_etl.entities import ENTITIES, Entity

from .app import create_app
from .control import ReplayControl
from .dataset import DataError
from .faults import (
    DropConnectionFault,
    Fault,
    GraphQLErrorFault,
    HtmlErrorFault,
    HttpStatusFault,
    IgnorePagingFault,
    LatencyFault,
    MalformedJsonFault,
    MutateRecordFault,
    TruncatedJsonFault,
    parse_fault,
)
from .server import ReplayServer, running_replay_server, serve, serving_in_thread
from .state import ReplayState, RequestCounts

__all__ = [
    "ENTITIES",
    "DataError",
    "DropConnectionFault",
    "Entity",
    "Fault",
    "GraphQLErrorFault",
    "HtmlErrorFault",
    "HttpStatusFault",
    "IgnorePagingFault",
    "LatencyFault",
    "MalformedJsonFault",
    "MutateRecordFault",
    "ReplayControl",
    "ReplayServer",
    "ReplayState",
    "RequestCounts",
    "TruncatedJsonFault",
    "create_app",
    "parse_fault",
    "running_replay_server",
    "serve",
    "serving_in_thread",
]
