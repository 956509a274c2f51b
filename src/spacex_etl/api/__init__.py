"""HTTP API (FastAPI)."""

from spacex_etl.api.app import create_app

__all__ = ["create_app"]
