"""Extract: pages of raw records from the SpaceX GraphQL API."""

from spacex_etl.extract.client import ListExtraction, SpaceXClient
from spacex_etl.extract.retry import RetryPolicy

__all__ = ["ListExtraction", "RetryPolicy", "SpaceXClient"]
