from __future__ import annotations

import re
from pathlib import Path

import pytest

from spacex_etl.db.url import driver_dsn
from spacex_etl.preflight import ExitCode, FatalError, load_settings
from spacex_etl.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db:5432/spacex",
        "postgres://u:p@db:5432/spacex",
        "postgresql+asyncpg://u:p@db:5432/spacex",
    ],
)
def test_plain_postgres_urls_are_normalised_once_in_the_settings(url: str) -> None:
    settings = Settings(_env_file=None, database_url=url)
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/spacex"


def test_other_databases_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="must be a PostgreSQL URL"):
        Settings(_env_file=None, database_url="mysql://u@h/db")


@pytest.mark.parametrize(
    ("url", "normalised", "for_asyncpg"),
    [
        (
            "postgresql://u:p@db/spacex?sslmode=require",
            "postgresql+asyncpg://u:p@db/spacex?ssl=require",
            "postgresql://u:p@db/spacex?sslmode=require",
        ),
        (
            "postgresql://u:p@db/spacex?ssl=verify-full",
            "postgresql+asyncpg://u:p@db/spacex?ssl=verify-full",
            "postgresql://u:p@db/spacex?sslmode=verify-full",
        ),
        (
            "postgresql://u@/spacex?host=/run/postgresql",
            "postgresql+asyncpg://u@/spacex?host=%2Frun%2Fpostgresql",
            "postgresql://u@/spacex?host=%2Frun%2Fpostgresql",
        ),
        ("postgresql://u@[::1]:5433/x", "postgresql+asyncpg://u@[::1]:5433/x", None),
        ("postgresql://u@db_1.local:1/x", "postgresql+asyncpg://u@db_1.local:1/x", None),
    ],
)
def test_tls_mode_and_socket_folder_reach_both_connection_paths(
    url: str, normalised: str, for_asyncpg: str | None
) -> None:
    """SQLAlchemy hands the query to asyncpg.connect() as keywords (`ssl`); asyncpg's own DSN
    parser (LISTEN, pre-flight) reads libpq's `sslmode`."""
    settings = Settings(_env_file=None, database_url=url)
    assert settings.database_url == normalised
    if for_asyncpg is not None:
        assert driver_dsn(normalised) == for_asyncpg


SECRET = "s3cr3tpw"

# Each malformed setting: the variable, its value (holding SECRET where it may hold a secret),
# and what the one line says.
MALFORMED = [
    ("DATABASE_URL", f"postgresql:/user:{SECRET}@host/db", "not a URL"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@host:abc/db", "port must be a number"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@host:99999/db", "port must be a number"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@host:0/db", "port must be a number"),
    ("DATABASE_URL", f"postgresql://user:{SECRET[:3]}@{SECRET[3:]}@host/db", "host is not"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@ho st/db", "host is not"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@host/db?sslmode=on", "sslmode must be one of"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@host/db?ssl=true", "sslmode must be one of"),
    ("DATABASE_URL", f"postgresql://user:{SECRET}@h/db?connect_timeout=5", "query parameters"),
    ("DATABASE_URL", f"mysql://user:{SECRET}@host/db", "must be a PostgreSQL URL"),
    ("SENTRY_DSN", f"https://{SECRET}@", "not a Sentry DSN"),
    ("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/project", "not a Sentry DSN"),
    ("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io:99999/1", "not a Sentry DSN"),
    ("SENTRY_DSN", f"{SECRET}@o1.ingest.sentry.io/1", "not a Sentry DSN"),
    ("JWT_SECRET", " " * 32, "must not be blank"),
    ("JWT_SECRET", f"\t{SECRET}", "at least 32 bytes"),
    ("SPACEX_API_URL", f"ftp://user:{SECRET}@host/", "scheme should be"),
    ("API_PORT", "http", "valid integer"),
    ("METRICS_PORT", "70000", "less than or equal to 65535"),
]


@pytest.mark.parametrize(("variable", "value", "problem"), MALFORMED)
def test_a_malformed_setting_is_one_line_naming_it_and_never_its_secret(
    variable: str, value: str, problem: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv(variable, value)
    with pytest.raises(FatalError) as raised:
        load_settings()
    line = str(raised.value)
    assert raised.value.code == ExitCode.CONFIG
    assert "\n" not in line
    assert line.startswith(f"{variable}=")
    assert problem in line
    assert SECRET not in line
    assert SECRET[3:] not in line  # nor the part a broken URL misplaced


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "ETL_INTERVAL_SECONDS", "API_PORT", "SPACEX_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.etl_interval_seconds == 60
    assert settings.api_port == 8000
    assert str(settings.spacex_api_url) == "https://spacex-production.up.railway.app/"
    assert settings.database_url is None


def test_blank_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings(_env_file=None).database_url is None


def test_the_version_is_the_package_metadata() -> None:
    from importlib.metadata import version

    import spacex_etl
    from spacex_etl.api import create_app
    from spacex_etl.db.database import Database

    app = create_app(Database("postgresql://nobody@127.0.0.1:9/none").engine, stale_after_s=1)
    assert spacex_etl.__version__ == version("spacex-etl") == app.version


ROOT = Path(__file__).resolve().parents[2]


def _env_example() -> dict[str, str | None]:
    """KEY=value lines of .env.example's service part (the docker compose section after it sets
    no service setting); a commented `# KEY=example` maps KEY to None."""
    found: dict[str, str | None] = {}
    text = (ROOT / ".env.example").read_text()
    service_part, compose_marker, _ = text.partition("# --- docker compose only")
    assert compose_marker, "the compose section's marker line moved: update this test"
    for line in service_part.splitlines():
        if match := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            found[match.group(1)] = match.group(2)
        elif match := re.fullmatch(r"# ([A-Z_]+)=\S+", line):
            found[match.group(1)] = None
    return found


def test_env_example_lists_exactly_the_settings() -> None:
    assert set(_env_example()) == {name.upper() for name in Settings.model_fields}


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example == Settings(_env_file=None)


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in readme, name
