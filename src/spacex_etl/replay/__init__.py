"""Replay server: the recorded real SpaceX data served as the SpaceX GraphQL API, with faults.

`spacex-etl replay` runs it for demos and offline runs; tests and benches start one with
`running_replay_server()` and steer it through its `ReplayState` (in-process) or the control
endpoints under `/_replay` (any process). Modules: `dataset` (profiles, recorded data, state),
`schema` and `live` (GraphQL and the two profiles' resolvers), `faults`, `server`.
"""

from spacex_etl.replay.dataset import ReplayState
from spacex_etl.replay.server import (
    ReplayServer,
    create_app,
    running_replay_server,
    serve,
    serving_in_thread,
)

__all__ = [
    "ReplayServer",
    "ReplayState",
    "create_app",
    "running_replay_server",
    "serve",
    "serving_in_thread",
]
