from __future__ import annotations

import pytest

from spacex_etl.db.url import async_url
from spacex_etl.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db:5432/spacex",
        "postgres://u:p@db:5432/spacex",
        "postgresql+asyncpg://u:p@db:5432/spacex",
    ],
)
def test_plain_postgres_urls_are_accepted(url: str) -> None:
    parsed = async_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert (parsed.host, parsed.database, parsed.password) == ("db", "spacex", "p")


def test_other_databases_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="must be a PostgreSQL URL"):
        async_url("mysql://u@h/db")


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
    from spacex_etl.db.engine import create_engine

    app = create_app(create_engine("postgresql://nobody@127.0.0.1:9/none"), stale_after_s=1)
    assert spacex_etl.__version__ == version("spacex-etl") == app.version
