"""Turn the PostgreSQL URLs users write into the ones SQLAlchemy's asyncpg dialect needs."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_PLAIN_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}


def async_url(url: str | URL) -> URL:
    """Accept `postgres://`, `postgresql://` or driver-qualified URLs; always answer asyncpg."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername not in _PLAIN_SCHEMES:
        raise ValueError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://...), got {parsed.drivername}://"
        )
    return parsed.set(drivername="postgresql+asyncpg")


def driver_dsn(url: str | URL) -> str:
    """The URL as asyncpg itself takes it, for connections outside SQLAlchemy's pool."""
    dsn: str = async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return dsn


def with_database(url: str | URL, name: str) -> str:
    """The same server and credentials, another database."""
    renamed: str = make_url(url).set(database=name).render_as_string(hide_password=False)
    return renamed
