"""Extract: pages of raw records from the SpaceX GraphQL API."""

from spacex_etl.extract.client import QUERIES, SpaceXClient

__all__ = ["QUERIES", "SpaceXClient"]
