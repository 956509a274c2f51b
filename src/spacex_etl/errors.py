"""The ETL's error hierarchy: each error says what failed, where, and whether retrying may help."""

from __future__ import annotations

import socket

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

# What a failing, lost or refused database connection raises, through SQLAlchemy or straight
# from asyncpg (the COPY path and the data mart's listener talk to the driver directly):
# refused or reset connections, connect timeouts, unresolvable hosts, a vanished unix socket.
DATABASE_ERRORS = (
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    FileNotFoundError,
)


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
