"""Every mistake a user can make in the settings or the database explains itself: one line on
stderr naming the variable, its problem and what to do, and the documented exit code; no traceback
unless LOG_LEVEL=DEBUG. A database that is only unreachable keeps the services up."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from spacex_etl.db.embedded import EmbeddedPostgres
from spacex_etl.db.url import driver_dsn
from tests.e2e.support import CLI, cli_env, cli_service

UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:9/spacex"  # discard port: nothing listens

CONFIG, SCHEMA, UNAVAILABLE = 78, 65, 69


def _fails(command: str, env: dict[str, str], code: int, *mentions: str) -> str:
    result = subprocess.run(
        [*CLI, command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in mentions:
        assert text in lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "mentions"),
    [
        ("ETL_INTERVAL_SECONDS", "abc", ("valid number", "example: ETL_INTERVAL_SECONDS=60")),
        ("ETL_INTERVAL_SECONDS", "-5", ("greater than 0",)),
        ("DATABASE_URL", "garbage", ("not a URL", "example: DATABASE_URL=postgresql://")),
        ("DATABASE_URL", "mysql://u:secret@h/db", ("PostgreSQL URL", "***")),
        ("API_PORT", "99999", ("65535",)),
        ("SPACEX_API_URL", "not a url", ("valid URL", "example: SPACEX_API_URL=http")),
        ("LOG_LEVEL", "verbose", ("not a log level",)),
        ("PAGE_SIZE", "0", ("greater than or equal to 1",)),
        ("JWT_SECRET", "a-short-secret", ("at least 32 bytes", "JWT_SECRET='***'")),
        ("JWT_SECRET", " " * 32, ("must not be blank", "JWT_SECRET='***'")),
        # A one-character typo: once echoed in clear.
        ("DATABASE_URL", "postgresql:/u:secret@h/db", ("not a URL", "DATABASE_URL='***'")),
        # Once a 139-line traceback, exit 1.
        ("DATABASE_URL", "postgresql://u:secret@h:abc/db", ("port must be a number",)),
        ("DATABASE_URL", "postgresql://u:secret@h:99999/db", ("port must be a number",)),
        ("DATABASE_URL", "postgresql://u:sec@ret@h/db", ("host is not",)),
        ("DATABASE_URL", "postgresql://u:secret@h/db?sslmode=yes", ("sslmode must be one of",)),
        ("SENTRY_DSN", "https://secret@sentry.example/project", ("not a Sentry DSN",)),
        ("SENTRY_DSN", "https://secret@", ("not a Sentry DSN", "SENTRY_DSN='***'")),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    variable: str, value: str, mentions: tuple[str, ...], tmp_path: Path
) -> None:
    env = cli_env(**{variable: value}, EMBEDDED_PG_DIR=str(tmp_path / "pgdata"))
    line = _fails("etl", env, CONFIG, f"{variable}=", *mentions)
    assert "secret" not in line
    assert "ret@" not in line  # nor the part of a password a broken URL misplaced
    assert not (tmp_path / "pgdata").exists()  # nothing started


@pytest.mark.parametrize(
    "command",
    ["run", "api", "scheduler", "migrate", "etl", "runs", "recount", "replay", "token create"],
)
def test_every_command_reports_malformed_settings_alike(command: str, tmp_path: Path) -> None:
    env = cli_env(
        DATABASE_URL="postgresql://u:secret@h:5432x/db",
        SENTRY_DSN="https://secret@",
        JWT_SECRET=" " * 40,
        EMBEDDED_PG_DIR=str(tmp_path / "pgdata"),
    )
    result = subprocess.run(
        [*CLI, *command.split(), *(["--sub", "me"] if command == "token create" else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == CONFIG, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "spacex-etl: DATABASE_URL='***': the port must be a number from 1 to 65535 "
        "(example: DATABASE_URL=postgresql://user:pass@localhost:5432/spacex); "
        "JWT_SECRET='***': JWT_SECRET must not be blank (e.g. `openssl rand -hex 32`); "
        "SENTRY_DSN='***': not a Sentry DSN (https://<key>@<host>/<project id>, "
        "from the project's Client Keys page)"
    ]


def test_debug_log_level_adds_the_traceback() -> None:
    env = cli_env(ETL_INTERVAL_SECONDS="abc", LOG_LEVEL="DEBUG")
    result = subprocess.run([*CLI, "etl"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == CONFIG
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("spacex-etl: ETL_INTERVAL_SECONDS=")


def test_a_busy_port_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = cli_env(API_PORT=str(port), EMBEDDED_PG_DIR=str(tmp_path / "pgdata"))
        _fails("run", env, CONFIG, f"API_PORT={port}", "already in use", "example: API_PORT=")
    assert not (tmp_path / "pgdata").exists()  # checked before the database starts


def test_an_unknown_database_user_fails_at_once(database_url: str) -> None:
    wrong = make_url(database_url).set(username="nosuchrole")
    env = cli_env(DATABASE_URL=wrong.render_as_string(hide_password=False))
    _fails("api", env, CONFIG, "DATABASE_URL", "nosuchrole", "check the user and password")


def test_a_missing_database_fails_at_once(database_url: str) -> None:
    missing = make_url(database_url).set(database="no_such_database")
    env = cli_env(DATABASE_URL=missing.render_as_string(hide_password=False))
    _fails("run", env, CONFIG, "DATABASE_URL", '"no_such_database" does not exist', "createdb")


def test_an_outdated_schema_fails_at_once(database_url: str) -> None:
    async def downgrade_marker() -> None:
        conn = await asyncpg.connect(driver_dsn(database_url))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '0000'")
        finally:
            await conn.close()

    asyncio.run(downgrade_marker())
    env = cli_env(DATABASE_URL=database_url)
    for command in ("api", "scheduler", "etl", "runs"):
        _fails(command, env, SCHEMA, "schema revision 0000", "spacex-etl migrate")


def test_one_shot_commands_on_an_unreachable_database_exit_69() -> None:
    env = cli_env(DATABASE_URL=UNREACHABLE_DB)
    for command in ("etl", "migrate", "runs"):
        _fails(
            command,
            env,
            UNAVAILABLE,
            "DATABASE_URL",
            "at postgres@127.0.0.1:9/spacex:",
            "is it running?",
        )


@pytest.mark.parametrize("command", ["api", "run"])
def test_the_api_stays_up_while_the_database_is_unreachable(command: str) -> None:
    with cli_service(command, cli_env(DATABASE_URL=UNREACHABLE_DB)) as service:
        service.wait_for_log("retrying until it answers")
        service.wait_for_log("Application startup complete")
        assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
        ready = httpx.get(f"{service.url}/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "5"
        if command == "run":  # it migrates before its first run: that tick logs, the next retries
            unmigrated = "schema not migrated, database unavailable"
            if not any(unmigrated in line for line in service.log):
                service.wait_for_log(unmigrated)


def test_an_unusable_embedded_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "pgdata"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a database")
    _fails("migrate", cli_env(EMBEDDED_PG_DIR=str(folder)), CONFIG, "EMBEDDED_PG_DIR=", "not empty")


def test_replay_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*CLI, "replay", "--port", str(port)],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == CONFIG
    assert result.stderr.strip().splitlines() == [
        f"spacex-etl: --port {port}: 127.0.0.1:{port} is already in use by another process "
        f"(example: --port {port + 1})"
    ]


def test_a_bad_value_in_dot_env_is_one_line_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HTTP_RETRY_ATTEMPTS=lots\n")
    result = subprocess.run(
        [*CLI, "etl"], env=cli_env(), cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == CONFIG
    assert result.stderr.strip().splitlines() == [
        "spacex-etl: HTTP_RETRY_ATTEMPTS='lots': input should be a valid integer, unable to parse "
        "string as an integer (example: HTTP_RETRY_ATTEMPTS=5)"
    ]


def test_a_wrong_password_fails_at_once(tmp_path: Path) -> None:
    # A server of its own that checks passwords (the shared ones trust local connections).
    server = EmbeddedPostgres(tmp_path / "pgdata")
    url = server.start()
    try:

        async def require_passwords() -> None:
            conn = await asyncpg.connect(driver_dsn(url))
            try:
                await conn.execute("ALTER ROLE postgres PASSWORD 'right'")
            finally:
                await conn.close()

        asyncio.run(require_passwords())
        (tmp_path / "pgdata" / "pg_hba.conf").write_text("local all all scram-sha-256\n")
        server.stop()
        server.start()
        wrong = make_url(url).set(password="wrong").render_as_string(hide_password=False)
        line = _fails("run", cli_env(DATABASE_URL=wrong), CONFIG, "DATABASE_URL", "password")
        assert "wrong" not in line
        right = make_url(url).set(password="right").render_as_string(hide_password=False)
        assert subprocess.run([*CLI, "migrate"], env=cli_env(DATABASE_URL=right)).returncode == 0
    finally:
        server.stop()
