"""Load: staged COPY, one set-based merge per entity type (links and data mart moved with it),
rejects."""

from spacex_etl.load.merge import MergeCounts, copy_to_stage, merge_stage
from spacex_etl.load.rejects import store_rejected
from spacex_etl.load.transaction import transaction

__all__ = [
    "MergeCounts",
    "copy_to_stage",
    "merge_stage",
    "store_rejected",
    "transaction",
]
