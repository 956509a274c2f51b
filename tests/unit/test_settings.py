from __future__ import annotations

import re
from pathlib import Path

import pytest

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
