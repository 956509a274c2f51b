"""An embedded PostgreSQL that a test may stop and start again, to play a database outage."""

from __future__ import annotations

from pathlib import Path

from spacex_etl.db.embedded import EmbeddedPostgres


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._server = EmbeddedPostgres(data_dir)
        self.url: str = self._server.start()

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, in-flight transactions are lost."""
        self._server.stop()

    def start(self) -> None:
        self._server.start()

    def close(self) -> None:
        self._server.stop()
