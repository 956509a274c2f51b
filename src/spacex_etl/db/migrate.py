"""Apply alembic migrations shipped inside the package, from any working directory."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from spacex_etl.db.url import async_url


def alembic_config(database_url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("spacex_etl.db") / "migrations"))
    # ConfigParser treats "%" as interpolation; passwords may contain it.
    url = async_url(database_url).render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(database_url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | URL, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
