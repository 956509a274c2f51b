"""What a database error means to a client: an outage or a refusal is a 503 with a JSON reason,
a value PostgreSQL cannot take is a 422, anything else is a bug (500, logged with its traceback).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from spacex_etl.errors import DATABASE_ERRORS, is_data_error, is_outage, refusal

_log = logging.getLogger(__name__)


def _unavailable(**content: str) -> JSONResponse:
    return JSONResponse(status_code=503, content=content, headers={"Retry-After": "5"})


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    refused = refusal(error)
    if refused is not None:
        # Not passing by itself: an operator must fix the credentials or the role.
        _log.error("database refused this service on %s: %s", request.url.path, refused)
        return _unavailable(detail="database refused this service's credentials", reason=refused)
    if is_outage(error):
        _log.warning("database unavailable on %s: %r", request.url.path, error)
        return _unavailable(detail="database unavailable, try again shortly")
    if is_data_error(error):
        # Input the API's validation let through: the client's mistake, and a gap to close.
        _log.warning("value refused by the database on %s: %r", request.url.path, error)
        return JSONResponse(
            status_code=422,
            content={"detail": "a value in the request is outside what the database can hold"},
        )
    raise error  # a bug: the server's 500, logged with its traceback (and sent to Sentry)


DATABASE_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database is unreachable, or refuses this service's credentials "
        "(`reason`); retry after the Retry-After seconds."
    }
}


def install_error_handlers(app: FastAPI) -> None:
    for error_type in DATABASE_ERRORS:
        app.add_exception_handler(error_type, _database_error)
