"""An embedded PostgreSQL that a test may stop and start again, to play a database outage."""

from __future__ import annotations

from pathlib import Path

import pgserver
from pgserver import _commands


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, in-flight transactions are lost."""
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user
        )

    def start(self) -> None:
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()
