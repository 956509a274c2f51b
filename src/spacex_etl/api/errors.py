"""Database faults become a 503 with a JSON reason, never a traceback or a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from spacex_etl.errors import DATABASE_ERRORS

_log = logging.getLogger(__name__)


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    _log.warning("database unavailable on %s: %r", request.url.path, error)
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable, try again shortly"},
        headers={"Retry-After": "5"},
    )


DATABASE_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The database is unreachable; retry after the Retry-After seconds."}
}


def install_error_handlers(app: FastAPI) -> None:
    for error_type in DATABASE_ERRORS:
        app.add_exception_handler(error_type, _database_unavailable)
