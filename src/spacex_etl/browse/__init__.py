"""Browse: the stored launches, missions and rockets as keyset pages, and the dashboard's
aggregates. Reads only; deleted rows never appear."""

from spacex_etl.browse.cursor import Cursor, InvalidCursorError, decode_cursor, encode_cursor
from spacex_etl.browse.models import URL_FIELDS, Launch, Mission, Page, Rocket
from spacex_etl.browse.queries import (
    ID_SORT,
    LAUNCH_SORTS,
    LaunchFilters,
    get_record,
    id_page,
    launch_page,
)

__all__ = [
    "ID_SORT",
    "LAUNCH_SORTS",
    "URL_FIELDS",
    "Cursor",
    "InvalidCursorError",
    "Launch",
    "LaunchFilters",
    "Mission",
    "Page",
    "Rocket",
    "decode_cursor",
    "encode_cursor",
    "get_record",
    "id_page",
    "launch_page",
]
