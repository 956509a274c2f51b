"""The ETL's error hierarchy: each error says what failed, where, and whether retrying may help."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# Everything the database path can raise, through SQLAlchemy or straight from asyncpg (the COPY
# path and the data mart's listener talk to the driver directly). Which of them is an outage,
# a refusal or a data error: `is_outage`, `refusal`, `is_data_error`.
DATABASE_ERRORS = (
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    FileNotFoundError,
)

# The server is unreachable, gone, going, full or too slow: worth retrying as it is.
_OUTAGES = (
    OSError,  # refused, reset, unresolvable host (gaierror), a vanished unix socket
    TimeoutError,  # connect timeout, asyncpg's command_timeout
    PoolTimeoutError,  # no pooled connection free within pool_timeout
    asyncpg.PostgresConnectionError,  # class 08: connection lost, closed mid-operation
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # class 57: shutdown, starting up, statement_timeout
)
# The server answers, and refuses this service for good: retrying the same settings fails alike.
_REFUSALS = (
    asyncpg.InvalidAuthorizationSpecificationError,  # 28000/28P01: password, NOLOGIN, pg_hba
    asyncpg.InvalidCatalogNameError,  # 3D000: the database no longer exists
)
# A value the database cannot take: PostgreSQL's class 22, or asyncpg refusing to encode an
# argument (a datetime out of range) before it is sent.
_DATA_ERRORS = (asyncpg.DataError, asyncpg_base.DataError)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and what caused it: SQLAlchemy wraps the driver's exception (`raise ... from`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def is_outage(error: BaseException) -> bool:
    """True when the database is unreachable or lost the connection, not when it answered."""
    if getattr(error, "connection_invalidated", False):  # SQLAlchemy saw a disconnect
        return True
    return any(isinstance(cause, _OUTAGES) for cause in _causes(error))


def refusal(error: BaseException) -> str | None:
    """The server's own words when it refuses this service's credentials or database."""
    found = next((c for c in _causes(error) if isinstance(c, _REFUSALS)), None)
    return None if found is None else str(found)


def is_data_error(error: BaseException) -> bool:
    return any(isinstance(cause, _DATA_ERRORS) for cause in _causes(error))


def describe_database_error(error: BaseException) -> str:
    """One line for a log, saying which of refusal, outage or other error it is."""
    refused = refusal(error)
    if refused is not None:
        return f"the database refused this service: {refused} (check DATABASE_URL)"
    return f"database {'unavailable' if is_outage(error) else 'error'}: {error!r}"


class EtlError(Exception):
    """Base of every error the ETL raises on purpose."""

    transient = False

    def __init__(self, message: str, *, entity: str | None = None) -> None:
        super().__init__(message)
        self.entity = entity

    def __str__(self) -> str:
        prefix = f"[{self.entity}] " if self.entity else ""
        return f"{prefix}{super().__str__()}"


class SourceError(EtlError):
    """The SpaceX API did not give us the page we asked for."""

    def __init__(
        self,
        message: str,
        *,
        entity: str | None = None,
        offset: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, entity=entity)
        self.offset = offset
        self.status = status
        self.attempts = 1

    def __str__(self) -> str:
        where = [f"offset {self.offset}"] if self.offset is not None else []
        where += [f"HTTP {self.status}"] if self.status is not None else []
        where += [f"{self.attempts} attempts"] if self.attempts > 1 else []
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{super().__str__()}{suffix}"


class SourceUnavailableError(SourceError):
    """Connection refused or dropped, timeout, or a 5xx: likely to pass, so retried."""

    transient = True


class RateLimitedError(SourceUnavailableError):
    """HTTP 429; `retry_after` is the server's requested wait in seconds, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        entity: str | None = None,
        offset: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, entity=entity, offset=offset, status=status)
        self.retry_after = retry_after


class ProtocolError(SourceError):
    """The answer was not the JSON the GraphQL protocol promises (HTML page, truncated body...)."""


class QueryError(SourceError):
    """The API answered with GraphQL `errors`: our query or its schema changed; not retried."""


class RecordRejectedError(EtlError):
    """A source record failed validation; it is kept in `rejected_records`, the run goes on."""

    def __init__(self, reason: str, *, entity: str, source_id: str | None) -> None:
        super().__init__(reason, entity=entity)
        self.source_id = source_id


class DeletionRefusedError(EtlError):
    """A complete list would tombstone more than `ETL_MAX_DELETE_FRACTION` of the stored rows:
    more likely a broken source than a real mass deletion, so nothing of the type changes."""


class ContractDriftError(EtlError):
    """More than `ETL_MAX_REJECT_FRACTION` of an entity's records failed validation: the source
    changed its contract, so nothing of the type changes until someone looks."""


class LoadError(EtlError):
    """Writing to PostgreSQL failed; the entity's transaction was rolled back."""
