"""`GET /data_mart/object_url_count`: URL counts per object type, from memory or the table."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from spacex_etl.api.deps import get_engine
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.data_mart import ObjectUrlCount, read_url_counts

router = APIRouter(prefix="/data_mart", tags=["data mart"], responses=DATABASE_UNAVAILABLE)


@router.get("/object_url_count", response_model=ObjectUrlCount)
async def object_url_count(request: Request) -> Response:
    """Served from memory while the app follows the data mart's commits; else from the table."""
    # No injected dependencies: the hot path is one attribute read (see bench/README.md).
    cache = request.app.state.url_counts
    body = cache.body if cache is not None else None
    if body is None:
        async with get_engine(request).connect() as conn:
            body = orjson.dumps(
                ObjectUrlCount.model_validate(await read_url_counts(conn)).model_dump()
            )
    return Response(body, media_type="application/json")
