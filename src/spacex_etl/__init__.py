"""SpaceX ETL: SpaceX GraphQL API → PostgreSQL every minute → data mart over HTTP."""

__version__ = "0.1.0"
