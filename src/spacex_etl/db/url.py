"""Turn the PostgreSQL URLs users write into the ones SQLAlchemy's asyncpg dialect needs, and
refuse those that cannot work, by a message that never quotes the URL (it holds the password)."""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_PLAIN_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}
# What asyncpg accepts for libpq's `sslmode` (and for its own `ssl` keyword).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# A DNS name (underscores allowed: compose service names have them) or an IPv4 address.
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")
# `host` names the unix-socket folder (the embedded server's URL); `sslmode` (libpq's name) or
# `ssl` (asyncpg's) the TLS mode. Both connection paths understand these once translated;
# anything else would reach asyncpg.connect() as an unknown keyword and fail at the first query.
_QUERY_KEYS = {"host", "sslmode", "ssl"}


class DatabaseUrlError(ValueError):
    """A PostgreSQL URL that cannot work; the message never quotes it."""


def async_url(url: str | URL) -> URL:
    """Accept `postgres://`, `postgresql://` or driver-qualified URLs; always answer asyncpg,
    with the TLS mode as the `ssl` keyword SQLAlchemy hands to asyncpg.connect()."""
    parsed = _parse(url) if isinstance(url, str) else url
    if parsed.drivername not in _PLAIN_SCHEMES:
        raise DatabaseUrlError(
            f"must be a PostgreSQL URL (postgresql://...), got {parsed.drivername}://"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise DatabaseUrlError("the port must be a number from 1 to 65535")
    if parsed.host is not None and not _is_host(parsed.host):
        raise DatabaseUrlError(
            "the host is not a host name or address "
            "(percent-encode @, : and / in the user name and password)"
        )
    if set(parsed.query) - _QUERY_KEYS:
        raise DatabaseUrlError(
            f"only the query parameters {', '.join(sorted(_QUERY_KEYS))} are supported"
        )
    modes = [parsed.query[key] for key in ("sslmode", "ssl") if key in parsed.query]
    if len(modes) > 1 or any(mode not in SSL_MODES for mode in modes):
        raise DatabaseUrlError(f"sslmode must be one of {', '.join(SSL_MODES)}")
    parsed = parsed.difference_update_query(["sslmode"])
    if modes:
        parsed = parsed.update_query_dict({"ssl": modes[0]})
    return parsed.set(drivername="postgresql+asyncpg")


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            "not a URL; PostgreSQL URLs look like postgresql://user:password@host:5432/database"
        ) from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise DatabaseUrlError("the port must be a number from 1 to 65535") from None


def _is_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal, written in brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return _HOSTNAME.fullmatch(host) is not None


def driver_dsn(url: str | URL) -> str:
    """The URL as asyncpg itself takes it, for connections outside SQLAlchemy's pool (its DSN
    parser reads libpq's `sslmode`, not the `ssl` keyword)."""
    normalised = async_url(url)
    mode = normalised.query.get("ssl")
    plain = normalised.set(drivername="postgresql").difference_update_query(["ssl"])
    if isinstance(mode, str):
        plain = plain.update_query_dict({"sslmode": mode})
    dsn: str = plain.render_as_string(hide_password=False)
    return dsn


def with_database(url: str | URL, name: str) -> str:
    """The same server and credentials, another database."""
    renamed: str = make_url(url).set(database=name).render_as_string(hide_password=False)
    return renamed
