"""SpaceX ETL: SpaceX GraphQL API → PostgreSQL every minute → data mart over HTTP."""

from importlib.metadata import version

# pyproject.toml is the one place the version is written.
__version__ = version("spacex-etl")
