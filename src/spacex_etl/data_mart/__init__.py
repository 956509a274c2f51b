"""The data mart: URL counts per object type, its table, its change channel and its reader.

Writers (the load's merge) move the table and notify `CHANNEL`; readers (the API) follow it in
memory with `UrlCountCache` or read it with `read_url_counts`; `recount` repairs it.
"""

from spacex_etl.data_mart.cache import UrlCountCache
from spacex_etl.data_mart.store import (
    CHANNEL,
    TABLE,
    URL_COUNTS_SQL,
    ObjectUrlCount,
    read_url_counts,
    recount,
)

__all__ = [
    "CHANNEL",
    "TABLE",
    "URL_COUNTS_SQL",
    "ObjectUrlCount",
    "UrlCountCache",
    "read_url_counts",
    "recount",
]
