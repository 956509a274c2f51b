from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from spacex_etl.api.deps import get_engine
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.load import read_url_counts
from spacex_etl.runs import last_success

router = APIRouter(prefix="/data_mart", tags=["data mart"], responses=DATABASE_UNAVAILABLE)


class ObjectUrlCount(BaseModel):
    """URLs ("publications") stored per object type, deleted objects excluded."""

    launches: int
    missions: int
    rockets: int


STATUS_HEADER = "X-Data-Mart-Status"


async def _loaded(request: Request) -> bool:
    """Has any run succeeded? Asked of the database until one has, then remembered."""
    if not request.app.state.data_mart_loaded:
        async with get_engine(request).connect() as conn:
            request.app.state.data_mart_loaded = await last_success(conn) is not None
    loaded: bool = request.app.state.data_mart_loaded
    return loaded


@router.get(
    "/object_url_count",
    response_model=ObjectUrlCount,
    responses={
        200: {
            "headers": {
                STATUS_HEADER: {
                    "description": "`loaded` once a run has succeeded; `empty` before (the "
                    "zeros then mean no data yet, not no URLs)",
                    "schema": {"type": "string", "enum": ["loaded", "empty"]},
                }
            }
        }
    },
)
async def object_url_count(request: Request) -> Response:
    """Served from memory while the app follows the data mart's commits; else from the table."""
    # No injected dependencies: the hot path is two attribute reads (see bench/README.md).
    status = "loaded" if await _loaded(request) else "empty"
    cache = request.app.state.url_counts
    body = cache.body if cache is not None else None
    if body is None:
        async with get_engine(request).connect() as conn:
            body = orjson.dumps(
                ObjectUrlCount.model_validate(await read_url_counts(conn)).model_dump()
            )
    return Response(body, media_type="application/json", headers={STATUS_HEADER: status})
