"""An embedded PostgreSQL (pgserver) for machines with no server: the zero-setup default."""

from __future__ import annotations

import logging
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
