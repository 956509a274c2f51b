"""An embedded PostgreSQL (pgserver) for machines with no server: the zero-setup default."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pgserver

_log = logging.getLogger(__name__)


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the server whose data lives in `data_dir`; stop it when the last user leaves.

    The folder persists, so data survives restarts of the service.
    """
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    with server:
        uri: str = server.get_uri()
        _log.info("embedded PostgreSQL running in %s", data_dir)
        yield uri


@contextmanager
def server_from_env_or_embedded(variable: str) -> Iterator[str]:
    """The server named by the environment `variable`, or a throwaway embedded one.

    Tests and benchmarks use it: they run on a fresh machine, and on any server when told.
    The embedded server's folder is a fresh temporary one, outside pytest's own tmp folders
    (another pytest session may prune those while this one runs).
    """
    if url := os.environ.get(variable):
        yield url
        return
    with (
        tempfile.TemporaryDirectory(prefix="spacex-etl-pg-") as folder,
        embedded_postgres(Path(folder) / "data") as uri,
    ):
        yield uri
