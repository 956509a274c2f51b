from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from spacex_etl.api.deps import Connection
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.load import read_url_counts

router = APIRouter(prefix="/data_mart", tags=["data mart"], responses=DATABASE_UNAVAILABLE)


class ObjectUrlCount(BaseModel):
    """URLs ("publications") stored per object type, deleted objects excluded."""

    launches: int
    missions: int
    rockets: int


@router.get("/object_url_count")
async def object_url_count(conn: Connection) -> ObjectUrlCount:
    return ObjectUrlCount.model_validate(await read_url_counts(conn))
