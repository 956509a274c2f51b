"""Checks before a command starts work: settings, the API's port, the database and its schema.

A problem no retry can fix (a bad setting, a busy port, a wrong password, a missing database or
schema) becomes `FatalError`: one line saying what is wrong and what to do, and a distinct exit code
(README, "If something goes wrong"). A database that is merely unreachable is not fatal for the
long-running commands: they start anyway, retry, and answer 503 meanwhile.
"""

from __future__ import annotations

import errno
import socket
from enum import IntEnum
from typing import Any, get_args

import asyncpg
from pydantic import SecretStr, ValidationError

from spacex_etl.db.database import Database, head_revision
from spacex_etl.logging import redact
from spacex_etl.settings import Settings

_CONNECT_TIMEOUT_S = 5.0


class ExitCode(IntEnum):
    """The exit codes of `spacex-etl` (BSD sysexits where one fits)."""

    OK = 0
    FAILED = 1  # the ETL run failed or was partial
    USAGE = 2  # a wrong command-line option (click's own)
    SCHEMA = 65  # EX_DATAERR: the database schema is missing or not this version's
    UNAVAILABLE = 69  # EX_UNAVAILABLE: the database is unreachable (one-shot commands)
    SKIPPED = 75  # EX_TEMPFAIL: another process holds the run lock; try again later
    CONFIG = 78  # EX_CONFIG: a setting is wrong (value, port, credentials, database name)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM stopped a one-shot command


class FatalError(Exception):
    """A problem to report in one line, exiting with `code`."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def _example(field: str) -> str:
    info = Settings.model_fields[field]
    value = info.examples[0] if info.examples else info.default
    return "" if value is None else f" (example: {field.upper()}={value})"


def _may_hold_secret(field: str) -> bool:
    # DATABASE_URL holds the password: a URL too broken to parse cannot have it masked.
    annotation = Settings.model_fields[field].annotation
    return field == "database_url" or annotation is SecretStr or SecretStr in get_args(annotation)


def _settings_problem(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    if field not in Settings.model_fields:  # a model-level check names its variable itself
        return str(error["msg"]).removeprefix("Value error, ")
    problem = str(error["msg"]).removeprefix("Value error, ")
    if problem[1:2].islower():
        problem = problem[0].lower() + problem[1:]
    # A secret is never echoed, even when it is what is wrong; other values lose URL passwords.
    value = "***" if _may_hold_secret(field) else redact(str(error["input"]))
    return f"{field.upper()}={value!r}: {problem}{_example(field)}"


def load_settings() -> Settings:
    """The settings, or `FatalError` naming each bad variable, its problem and an example."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [_settings_problem(dict(e)) for e in error.errors()]
        raise FatalError("; ".join(lines), ExitCode.CONFIG) from error


def bind_socket(
    host: str, port: int, *, host_label: str = "API_HOST=", port_label: str = "API_PORT="
) -> socket.socket:
    """A listening socket, bound now so a busy port fails before anything starts; the labels
    name the setting (or option) in the message."""
    not_here = (
        f"{host_label}{host}: not an address of this machine (example: {host_label}127.0.0.1)"
    )
    try:
        [(family, kind, proto, _, address), *_] = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise FatalError(not_here, ExitCode.CONFIG) from error
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        problems = {
            errno.EADDRINUSE: f"{port_label}{port}: {host}:{port} is already in use by another "
            f"process (example: {port_label}{port + 1})",
            errno.EACCES: f"{port_label}{port}: no permission to listen on {host}:{port} "
            f"(ports below 1024 need privileges; example: {port_label}8000)",
            errno.EADDRNOTAVAIL: not_here,
        }
        message = problems.get(error.errno or 0, f"{host_label}{host} {port_label}{port}: {error}")
        raise FatalError(message, ExitCode.CONFIG) from error
    return sock


async def check_database(database: Database, *, need_schema: bool) -> bool:
    """Connect once. False when the server is unreachable (possibly passing); `FatalError` when the
    server refuses us for good, or (with `need_schema`) the schema is not this version's."""
    try:
        conn = await asyncpg.connect(database.dsn, timeout=_CONNECT_TIMEOUT_S)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise FatalError(
            f"DATABASE_URL: the server refused {database.where}: {error} "
            "(check the user and password; example: DATABASE_URL=postgresql://user:pass@host:5432/db)",
            ExitCode.CONFIG,
        ) from error
    except asyncpg.InvalidCatalogNameError as error:
        raise FatalError(
            f"DATABASE_URL: {error} on {database.where} (create it: createdb "
            f"{database.url.database}; or name an existing one in DATABASE_URL)",
            ExitCode.CONFIG,
        ) from error
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    try:
        if need_schema:
            await _check_schema(conn)
    finally:
        await conn.close()
    return True


async def _check_schema(conn: asyncpg.Connection) -> None:
    head = head_revision()
    current = None
    if await conn.fetchval("SELECT to_regclass('alembic_version')") is not None:
        current = await conn.fetchval("SELECT version_num FROM alembic_version")
    if current == head:
        return
    found = "no schema" if current is None else f"schema revision {current}"
    raise FatalError(
        f"the database has {found}, this version needs {head}: run `spacex-etl migrate`",
        ExitCode.SCHEMA,
    )
