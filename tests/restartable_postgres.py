"""An embedded PostgreSQL that a test may stop and start again, to play a database outage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spacex_etl.db.embedded import EmbeddedPostgres


class RestartablePostgres:
    """The server in `data_dir`, on its Unix socket; with `listen=(address, port)` on that TCP
    address instead, admitting (trust) the hosts of its own subnets, as a server on a network
    of test hosts. `settings` are further server settings (`postgres -c`)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        listen: tuple[str, int] | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        options = dict(settings or {})
        if listen is not None:
            address, port = listen
            hba = data_dir.parent / "pg_hba.conf"
            hba.write_text("local all all trust\nhost all all samenet trust\n")
            options |= {"listen_addresses": address, "port": str(port), "hba_file": str(hba)}
        self._server = EmbeddedPostgres(data_dir, options)
        socket_url = self._server.start()
        self.url: str = (
            socket_url if listen is None else f"postgresql://postgres@{address}:{port}/postgres"
        )

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, in-flight transactions are lost."""
        self._server.stop()

    def start(self) -> None:
        self._server.start()

    def close(self) -> None:
        self._server.stop()
