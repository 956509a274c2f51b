"""Admin endpoints: bearer token with the `admin` scope required."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from spacex_etl.api.auth import AUTH_RESPONSES, AdminClaims
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.api.trigger import AlreadyRunningError, NoRunnerError, RunTrigger

_log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/etl/runs", tags=["admin"], responses={**AUTH_RESPONSES, **DATABASE_UNAVAILABLE}
)


class RunStarted(BaseModel):
    run_id: int
    status: str = "running"
    url: str


@router.post(
    "",
    status_code=202,
    responses={
        409: {"description": "Another run is in progress"},
        503: {"description": "No ETL runner in this process, or the database is unreachable"},
    },
)
async def trigger_run(request: Request, response: Response, claims: AdminClaims) -> RunStarted:
    """Start an ETL run now; 202 with its id (follow it at `url`), 409 if one is running."""
    trigger: RunTrigger | None = request.app.state.trigger
    try:
        if trigger is None:
            raise NoRunnerError
        run_id = await trigger.start()
    except NoRunnerError:
        raise HTTPException(status_code=503, detail="no ETL runner in this process") from None
    except AlreadyRunningError:
        raise HTTPException(status_code=409, detail="an ETL run is already in progress") from None
    _log.info("run %d triggered by %s", run_id, claims["sub"])
    url = f"/etl/runs/{run_id}"
    response.headers["Location"] = url
    return RunStarted(run_id=run_id, url=url)
