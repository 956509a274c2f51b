"""Extract: pages of raw records from the SpaceX GraphQL API."""

from spacex_etl.extract.client import QUERIES, SpaceXClient
from spacex_etl.extract.retry import RetryPolicy

__all__ = ["QUERIES", "RetryPolicy", "SpaceXClient"]
