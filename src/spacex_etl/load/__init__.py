"""Load: staged COPY, one set-based merge per entity type, link table, rejects, data mart."""

from spacex_etl.load.data_mart import has_data, read_url_counts, refresh_url_count
from spacex_etl.load.merge import MergeCounts, copy_to_stage, merge_stage
from spacex_etl.load.rejects import store_rejected

__all__ = [
    "MergeCounts",
    "copy_to_stage",
    "has_data",
    "merge_stage",
    "read_url_counts",
    "refresh_url_count",
    "store_rejected",
]
