"""Process-wide logging set-up for the CLI commands."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: one line per page, every minute, is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # alembic narrates its set-up at INFO; `migrate.upgrade` logs the revision reached.
    logging.getLogger("alembic").setLevel(logging.WARNING)
